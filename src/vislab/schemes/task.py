"""A task trained with a scheme (FixMatch, Mean Teacher, Noisy Student, distillation): the training step is
the scheme's; validation, metrics, artifacts and prediction stay the base task's. Mean Teacher's run is its
teacher, as USB and TorchSSL evaluate it: validation, best.pt's pick, test metrics and inference use the
teacher's weights (Task.evaluated_model; summary.json's best_weights says "teacher").

Through the task interface (tasks.base): the unlabeled pool is an extra stream ("unlabeled"), so the engine
seeds, shards and resumes it exactly; the Mean Teacher's EMA copy or a frozen teacher ("teacher")
and Noisy Student's pseudo-labels ("pseudo_labels", a module of buffers) are extra models, which the engine
places on the device and keeps in every checkpoint.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch
from torch import nn

from ..config import Config
from ..data.bundle import DataBundle, DataInfo
from ..data.seeding import mix_seed
from ..errors import VislabError
from ..tasks.base import StepContext, Stream, Task
from .consistency import FixMatch, MeanTeacher, NoisyStudent, join, split_outputs
from .losses import distillation_loss, ema_update
from .noisy_student import PseudoLabelSet, select, teacher_probabilities
from .teacher import Teacher, load_teacher, stats

_STRONG_VIEW = 18  # mixed with train.seed and the step: the strong views' own random stream


class PseudoLabels(nn.Module):
    """Noisy Student's pseudo-labels for every pool sample, as buffers (so they are checkpointed with the
    extra models): ``targets`` [N, K] probabilities (one-hot for hard labels) and ``weights`` [N]
    (0 for the samples below the threshold); ``ready`` says whether the teacher has labeled the pool yet."""

    def __init__(self, size: int, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("targets", torch.zeros(size, num_classes))
        self.register_buffer("weights", torch.zeros(size))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))

    def fill(self, labels: PseudoLabelSet) -> None:
        kept = labels.indices.to(self.targets.device)
        targets = labels.targets if labels.targets.ndim == 2 else nn.functional.one_hot(labels.targets, self.targets.shape[1])
        self.targets.zero_()
        self.weights.zero_()
        self.targets[kept] = targets.float().to(self.targets.device)
        self.weights[kept] = labels.weights.to(self.weights.device)
        self.ready.fill_(True)


class SchemeTask(Task):
    """``base`` trained with the scheme ``cfg`` names; see the module docstring."""

    def __init__(self, base: Task, cfg: Config, bundle: DataBundle) -> None:
        self.base = base
        self.cfg = cfg
        self.bundle = bundle
        self.name, self.monitor, self.mode = base.name, base.monitor, base.mode
        self.per_pixel, self.domains = base.per_pixel, base.domains
        self.predicts_to_folder, self.predict_options, self.votes = base.predicts_to_folder, base.predict_options, base.votes
        info = bundle.info
        self.mean = stats(info.mean if cfg.aug.normalize else [0.0] * info.channels)
        self.std = stats(info.std if cfg.aug.normalize else [1.0] * info.channels)
        method = cfg.semisup.method
        if method == "noisy_student" and self.per_pixel:
            raise VislabError(f"semisup.method=noisy_student labels whole images; for {base.name} use fixmatch or mean_teacher")
        self.scheme: Any = {"fixmatch": FixMatch, "mean_teacher": MeanTeacher, "noisy_student": NoisyStudent}.get(method)
        self.scheme = self.scheme(cfg, info, self.per_pixel) if self.scheme else None
        self.evaluated_model = "teacher" if isinstance(self.scheme, MeanTeacher) else None
        self.teacher: Optional[Teacher] = None  # checked and loaded here, before any run directory exists
        if method == "noisy_student":
            self.teacher = load_teacher(cfg.semisup.teacher, info, "semisup.teacher")  # type: ignore[arg-type]
        elif cfg.loss.distill is not None:
            self.teacher = load_teacher(cfg.loss.distill.teacher, info, "loss.distill.teacher")  # type: ignore[arg-type]

    # -- what stays the base task's -----------------------------------------------------------------

    def build_model(self, cfg: Config, info: DataInfo) -> nn.Module:
        return self.base.build_model(cfg, info)

    def validation_step(self, model: nn.Module, batch: dict, ctx: StepContext) -> tuple[Optional[torch.Tensor], Any]:
        return self.base.validation_step(model, batch, ctx)

    def on_train_epoch_start(self, model: nn.Module, ctx: StepContext) -> None:
        self.base.on_train_epoch_start(model, ctx)

    def on_train_epoch_end(self, model: nn.Module, ctx: StepContext) -> None:
        self.base.on_train_epoch_end(model, ctx)

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

    def finalize(self, artifacts_dir: Path, predictions: Iterable[tuple[Any, dict]], bundle: DataBundle,
                 model: nn.Module) -> dict:
        return self.base.finalize(artifacts_dir, predictions, bundle, model)

    def class_logits(self, outputs: Any) -> torch.Tensor:
        return self.base.class_logits(outputs)

    def sample_records(self, outputs: Any, batch: dict) -> dict[str, torch.Tensor]:
        return self.base.sample_records(outputs, batch)

    def eval_settings(self) -> dict:
        return self.base.eval_settings()

    def predict_files(self, model: nn.Module, files: list[Path], **kwargs: Any) -> list[dict[str, Any]]:  # type: ignore[override]
        return self.base.predict_files(model, files, **kwargs)

    # -- what the scheme adds ---------------------------------------------------------------------------

    def extra_models(self, model: nn.Module) -> dict[str, nn.Module]:
        models = dict(self.base.extra_models(model))
        if isinstance(self.scheme, MeanTeacher):
            models["teacher"] = copy.deepcopy(model).requires_grad_(False)
        if self.teacher is not None:
            models["teacher"] = self.teacher.model
        if isinstance(self.scheme, NoisyStudent):
            models["pseudo_labels"] = PseudoLabels(len(self.bundle.unlabeled), self.bundle.info.num_classes)
        return models

    def extra_streams(self, bundle: DataBundle) -> dict[str, Stream]:
        streams = dict(self.base.extra_streams(bundle))
        if self.scheme is not None:
            pool = bundle.unlabeled
            size = min(self.cfg.train.batch_size * self.cfg.semisup.ratio, len(pool))
            streams["unlabeled"] = Stream(pool, size)
        return streams

    def logits(self, outputs: Any) -> torch.Tensor:
        """Class logits among the base task's outputs: per pixel for per-pixel tasks, else its class head."""
        return outputs["out"] if self.per_pixel else self.base.class_logits(outputs)

    def joint_forward(self, model: nn.Module, parts: list[dict]) -> list[Any]:
        """The base task's forward on the parts joined into one batch, its outputs split back per part."""
        outputs = self.base.forward(model, join(parts))
        return split_outputs(outputs, [p["image"].shape[0] for p in parts])

    def teacher_logits(self, teacher: nn.Module, batch: dict) -> torch.Tensor:
        """The frozen teacher's class logits for a batch normalized as this run's data."""
        image = batch["image"]
        run = lambda m, x: self.logits(self.base.forward(m, {**batch, "image": x}))  # noqa: E731
        return self.teacher.logits(image, self.mean.to(image.device), self.std.to(image.device), run, model=teacher)  # type: ignore[union-attr]

    def training_step(self, model: nn.Module, batch: dict, ctx: StepContext) -> tuple[torch.Tensor, Any]:
        if self.scheme is None:
            return self.distillation_step(model, batch, ctx)
        unlabeled = ctx.batches["unlabeled"]
        g = torch.Generator(device=ctx.fabric.device)
        g.manual_seed(mix_seed(self.cfg.train.seed, _STRONG_VIEW, ctx.global_step, ctx.fabric.global_rank))
        forward = functools.partial(self.joint_forward, model)
        if isinstance(self.scheme, FixMatch):
            outputs, extra = self.scheme.step(forward, self.logits, batch, unlabeled, g)
        elif isinstance(self.scheme, MeanTeacher):
            teacher = functools.partial(self.joint_forward, ctx.models["teacher"])
            epochs = ctx.epoch + ctx.step / ctx.epoch_batches  # the loader's own count: its sampler decides it
            outputs, extra = self.scheme.step(forward, self.logits, teacher, batch, unlabeled, g, epochs)
        else:
            labels = ctx.models["pseudo_labels"]
            if not bool(labels.ready):
                self.label_pool(ctx)
            outputs, extra = self.scheme.step(forward, self.logits, batch, unlabeled, g, labels.targets, labels.weights)
        return self.base.loss(outputs, batch) + extra, outputs

    def label_pool(self, ctx: StepContext) -> None:
        """Noisy Student: the teacher labels the whole pool once, un-noised, on the training device."""
        cfg = self.cfg
        run = lambda m, b: self.teacher_logits(m, b)  # noqa: E731
        info = self.bundle.info
        mean, std = (info.mean, info.std) if cfg.aug.normalize else (None, None)
        probs = teacher_probabilities(ctx.models["teacher"], self.bundle.unlabeled, cfg.aug, mean, std, ctx.fabric.device,
                                      cfg.train.eval_batch_size or cfg.train.batch_size, run)
        s = cfg.semisup
        ctx.models["pseudo_labels"].fill(select(probs, s.threshold, s.pseudo == "soft", s.balance))

    def distillation_step(self, model: nn.Module, batch: dict, ctx: StepContext) -> tuple[torch.Tensor, Any]:
        """(1 - weight) x the task's loss + weight x T^2 KL to the teacher (per pixel: the labeled pixels)."""
        d = self.cfg.loss.distill
        outputs = self.base.forward(model, batch)
        target = self.teacher_logits(ctx.models["teacher"], batch)
        valid = batch["target"] != self.bundle.info.ignore_index if self.per_pixel else None
        kd = distillation_loss(self.logits(outputs), target, d.temperature, valid)  # type: ignore[union-attr]
        return (1 - d.weight) * self.base.loss(outputs, batch) + d.weight * kd, outputs  # type: ignore[union-attr]

    def after_optimizer_step(self, model: nn.Module, ctx: StepContext) -> None:
        """Mean Teacher: the teacher follows the student, with Tarvainen & Valpola's early-step decay
        min(1 - 1 / (step + 1), ema_decay) so that it forgets its random start quickly."""
        self.base.after_optimizer_step(model, ctx)
        if isinstance(self.scheme, MeanTeacher):
            ema_update(ctx.models["teacher"], model, min(1 - 1 / (ctx.global_step + 1), self.cfg.semisup.ema_decay))


def wrap(task: Task, cfg: Config, bundle: DataBundle) -> Task:
    """``task`` itself, or wrapped in the scheme the config names (a teacher is checked and loaded here,
    before any run directory exists)."""
    if cfg.semisup.method == "none" and cfg.loss.distill is None:
        return task
    return SchemeTask(task, cfg, bundle)
