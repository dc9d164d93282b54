"""A task trained with a scheme (FixMatch, Mean Teacher, Noisy Student, distillation): the training step is
the scheme's; metrics, evaluation, artifacts and prediction stay the base task's.

The unlabeled stream is a second Loader over the pool, seeded apart from the labeled one. Its batch for
training step ``g`` (counted over the whole run) is batch ``g % len`` of its epoch ``g // len``: a function
of the step alone, so a resumed run draws exactly the unlabeled batches (order and augmentation) the
uninterrupted one would have. The Mean Teacher's EMA weights and Noisy Student's pseudo-labels are part of
``state_dict``, saved in every checkpoint.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import torch
from torch import nn

from ..config import Config
from ..data.bundle import DataBundle
from ..data.labeled import subset
from ..data.loading import Loader
from ..data.seeding import mix_seed
from ..tasks.base import StepContext, Task
from .consistency import FixMatch, MeanTeacher, NoisyStudent, join, split_outputs
from .losses import distillation_loss, ema_update
from .noisy_student import PseudoLabelSet, select, teacher_probabilities
from .teacher import load_teacher, stats

_UNLABELED_STREAM = 17  # mixed into train.seed: the pool's order and augmentation differ from the labeled stream's
_STRONG_VIEW = 18


class Stream:
    """Batch ``g`` of an endless walk over a Loader's epochs, rebuilt from ``g`` alone when not next in line."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self.batches: Optional[Iterator[dict]] = None
        self.expected = -1

    def batch(self, g: int) -> dict:
        per_epoch = len(self.loader)
        epoch, step = divmod(g, per_epoch)
        if self.batches is None or g != self.expected or step == 0:
            self.batches = self.loader.epoch(epoch, step)
        self.expected = g + 1
        return next(self.batches)


class SchemeTask(Task):
    """``base`` trained with the scheme ``cfg`` names; see the module docstring."""

    def __init__(self, base: Task, cfg: Config, bundle: DataBundle, model: nn.Module) -> None:
        self.base = base
        self.cfg = cfg
        self.bundle = bundle
        self.monitor, self.mode = base.monitor, base.mode
        info = bundle.info
        self.per_pixel = info.task == "segmentation"
        self.mean = stats(info.mean if cfg.aug.normalize else [0.0] * info.channels)
        self.std = stats(info.std if cfg.aug.normalize else [1.0] * info.channels)
        method = cfg.semisup.method
        self.fixmatch = FixMatch(cfg, info) if method == "fixmatch" else None
        self.mean_teacher = MeanTeacher(cfg, info) if method == "mean_teacher" else None
        self.ema: Optional[nn.Module] = copy.deepcopy(model).requires_grad_(False) if self.mean_teacher else None
        self.pseudo_teacher = load_teacher(cfg.semisup.teacher, info, "semisup.teacher") if method == "noisy_student" else None
        self.pseudo: Optional[PseudoLabelSet] = None
        self.noisy: Optional[NoisyStudent] = None
        distill = cfg.loss.distill
        self.distill_teacher = load_teacher(distill.teacher, info, "loss.distill.teacher") if distill else None
        self.stream: Optional[Stream] = None

    # -- what stays the base task's -----------------------------------------------------------------

    def forward(self, model: nn.Module, batch: dict) -> Any:
        return self.base.forward(model, batch)

    def predict(self, model: nn.Module, batch: dict) -> Any:
        return self.base.predict(model, batch)

    def loss(self, outputs: Any, batch: dict) -> torch.Tensor:
        return self.base.loss(outputs, batch)

    def metrics(self, train: bool = False) -> Any:
        return self.base.metrics(train)

    def train_sampler(self, bundle: DataBundle) -> Optional[Callable[..., Any]]:
        return self.base.train_sampler(bundle)

    def finalize(self, artifacts_dir: Path, predictions: Iterable[tuple[Any, dict]], bundle: DataBundle) -> dict:
        return self.base.finalize(artifacts_dir, predictions, bundle)

    # -- the scheme's step ------------------------------------------------------------------------------

    def logits(self, outputs: Any) -> torch.Tensor:
        """Class logits among the base task's outputs: per pixel for segmentation, else its class head."""
        return outputs["out"] if self.per_pixel else self.base.class_logits(outputs)  # type: ignore[attr-defined]

    def place(self, device: torch.device) -> None:
        """The EMA model and the teachers on the training device (once)."""
        for module in (self.ema, *(t.model for t in (self.pseudo_teacher, self.distill_teacher) if t is not None)):
            if module is not None and next(module.parameters()).device != device:
                module.to(device)

    def training_step(self, model: nn.Module, batch: dict, ctx: StepContext) -> tuple[torch.Tensor, Any]:
        self.place(ctx.device)
        if self.distill_teacher is not None:
            return self.distillation_step(model, batch)
        unlabeled = self.unlabeled_batch(ctx)
        g = torch.Generator(device=ctx.device)
        g.manual_seed(mix_seed(ctx.seed, _STRONG_VIEW, ctx.global_step, ctx.rank))
        forward = functools.partial(self.joint_forward, model)
        if self.fixmatch is not None:
            outputs, extra, _ = self.fixmatch.step(forward, self.logits, batch, unlabeled, g)
        elif self.mean_teacher is not None:
            teacher = functools.partial(self.joint_forward, self.ema)
            epochs_done = ctx.global_step / ctx.steps_per_epoch
            outputs, extra, _ = self.mean_teacher.step(forward, self.logits, teacher, batch, unlabeled, g, epochs_done)
        else:
            outputs, extra, _ = self.noisy.step(forward, self.logits, batch, unlabeled, g)  # type: ignore[union-attr]
        return self.base.loss(outputs, batch) + extra, outputs

    def joint_forward(self, model: nn.Module, parts: list[dict]) -> list[Any]:
        """The base task's forward on the parts joined into one batch, its outputs split back per part."""
        outputs = self.base.forward(model, join(parts))
        return split_outputs(outputs, [p["image"].shape[0] for p in parts])

    def distillation_step(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, Any]:
        """(1 - weight) x the task's loss + weight x T^2 KL to the teacher (per pixel: the labeled pixels)."""
        teacher, d = self.distill_teacher, self.cfg.loss.distill
        outputs = self.base.forward(model, batch)
        image = batch["image"]
        target = teacher.logits(image, self.mean.to(image.device), self.std.to(image.device),  # type: ignore[union-attr]
                                lambda m, x: self.logits(self.base.forward(m, {**batch, "image": x})))
        valid = None
        if self.per_pixel:
            valid = batch["target"] != self.bundle.info.ignore_index
        kd = distillation_loss(self.logits(outputs), target, d.temperature, valid)  # type: ignore[union-attr]
        return (1 - d.weight) * self.base.loss(outputs, batch) + d.weight * kd, outputs  # type: ignore[union-attr]

    def unlabeled_batch(self, ctx: StepContext) -> dict:
        """The pool's batch for this training step (see the module docstring)."""
        if self.stream is None:
            self.stream = Stream(self.unlabeled_loader(ctx))
        return self.stream.batch(ctx.global_step)

    def unlabeled_loader(self, ctx: StepContext) -> Loader:
        cfg, bundle = self.cfg, self.bundle
        pool = bundle.unlabeled
        if self.pseudo_teacher is not None:
            if self.pseudo is None:
                probs = teacher_probabilities(self.pseudo_teacher, pool, cfg.aug, bundle.info.mean, bundle.info.std,
                                              ctx.device, cfg.train.eval_batch_size or cfg.train.batch_size,
                                              lambda m, b: self.logits(self.base.forward(m, b)))
                s = cfg.semisup
                self.pseudo = select(probs, s.threshold, s.pseudo == "soft", s.balance)
            self.noisy = NoisyStudent(cfg, bundle.info, self.pseudo)
            pool = subset(pool, self.pseudo.indices.numpy())
        size = min(cfg.train.batch_size * cfg.semisup.ratio, len(pool))
        return Loader(
            pool, size, device=ctx.device, train=True, seed=mix_seed(cfg.train.seed, _UNLABELED_STREAM),
            rank=ctx.rank, world_size=ctx.world_size, num_workers=cfg.data.num_workers,
            mean=bundle.info.mean if cfg.aug.normalize else None, std=bundle.info.std if cfg.aug.normalize else None,
        )

    def after_optimizer_step(self, model: nn.Module, ctx: StepContext) -> None:
        """Mean Teacher: the teacher follows the student, with Tarvainen & Valpola's early-step decay
        min(1 - 1 / (step + 1), ema_decay) so that it forgets its random start quickly."""
        if self.ema is not None:
            decay = min(1 - 1 / (ctx.global_step + 1), self.cfg.semisup.ema_decay)
            ema_update(self.ema, model, decay)

    # -- checkpoints --------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if self.ema is not None:
            state["ema"] = {k: v.cpu() for k, v in self.ema.state_dict().items()}
        if self.pseudo is not None:
            state["pseudo"] = {k: getattr(self.pseudo, k) for k in ("indices", "targets", "weights", "confidence")}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.ema is not None and "ema" in state:
            self.ema.load_state_dict(state["ema"])
        if "pseudo" in state:
            self.pseudo = PseudoLabelSet(**state["pseudo"])


def wrap(task: Task, cfg: Config, bundle: DataBundle, model: nn.Module) -> Task:
    """``task`` itself, or wrapped in the scheme the config names (a teacher is checked and loaded here,
    before any run directory exists)."""
    if cfg.semisup.method == "none" and cfg.loss.distill is None:
        return task
    return SchemeTask(task, cfg, bundle, model)
