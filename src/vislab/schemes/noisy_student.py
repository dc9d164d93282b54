"""Noisy Student (Xie et al., 2020): a finished run labels the unlabeled pool once, without noise, before the
student trains; the student learns those labels under noise (RandAugment, and model.dropout /
model.drop_path as the recipe sets them).

Pseudo-labels are hard (the teacher's argmax) or soft (its probabilities). Only samples whose confidence
reaches ``semisup.threshold`` are kept. Class balancing weights each kept sample by
(kept samples / (classes present x kept samples of its class)), so every class weighs the same in the
loss on average: the expectation of the paper's duplication of rare classes and truncation of common
ones, without changing the pool.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from torch import nn
from torch.utils.data import Dataset

from ..config import AugConfig, Config
from ..data.bundle import DataBundle
from ..data.augment.per_batch import augment_for_memory
from ..data.datasets import MemoryDataset
from ..data.loading.labeled import Subset
from ..data.loading.loader import Loader
from ..data.augment.per_sample import build_transform
from ..errors import VislabError
from ..tasks.base import StepContext, Task
from .consistency import Consistency
from .losses import soft_cross_entropy
from .teacher import load_teacher


@dataclass
class PseudoLabelSet:
    """The kept part of the pool: ``indices`` int64 [M] (positions in the pool), ``targets`` int64 [M]
    (hard) or float [M, K] (soft), ``weights`` float [M], and ``confidence`` float [M]."""

    indices: torch.Tensor
    targets: torch.Tensor
    weights: torch.Tensor
    confidence: torch.Tensor


def evaluation_view(pool: Dataset, aug: AugConfig) -> Dataset:
    """The pool as evaluation sees images: no random augmentation, only the resize/crop the model expects."""
    if isinstance(pool, MemoryDataset):
        return MemoryDataset(pool.images, pool.targets, pool.extras, augment_for_memory(aug, train=False))
    if isinstance(pool, Subset):
        base = copy.copy(pool.base)
        base.transform = build_transform(aug, train=False)
        return Subset(base, pool.indices, pool.hide_target, pool.fill)
    raise VislabError("semisup.method=noisy_student needs an unlabeled pool (data.labeled_per_class, "
                      "data.labeled_fraction or data.unlabeled_root)")


@torch.no_grad()
def teacher_probabilities(teacher: torch.nn.Module, pool: Dataset, aug: AugConfig, mean: Optional[list[float]],
                          std: Optional[list[float]], device: torch.device, batch_size: int,
                          run: Callable[[torch.nn.Module, dict], torch.Tensor]) -> torch.Tensor:
    """The teacher's class probabilities float [N, K] for every pool sample, in pool order, un-noised;
    ``run(teacher, batch) -> logits`` is the task's forward and class head on batches normalized with
    ``mean``/``std`` (the training data's, or None when aug.normalize is off)."""
    loader = Loader(evaluation_view(pool, aug), batch_size, device=device, train=False, mean=mean, std=std, num_workers=0)
    probs: list[Any] = [None] * len(pool)
    for batch in loader.epoch(0):
        p = run(teacher, batch).float().softmax(1).cpu()
        for row, i in zip(p, batch["index"].tolist()):
            probs[i] = row
    return torch.stack(probs)


def select(probs: torch.Tensor, threshold: float, soft: bool, balance: bool) -> PseudoLabelSet:
    """Pseudo-labels from probabilities [N, K]: the confident ones, hard or soft, weighted for balance."""
    confidence, labels = probs.max(1)
    keep = (confidence >= threshold).nonzero().flatten()
    if len(keep) == 0:
        raise VislabError(f"no unlabeled sample reaches semisup.threshold={threshold} under the teacher; lower it")
    kept_labels = labels[keep]
    weights = torch.ones(len(keep))
    if balance:
        counts = torch.bincount(kept_labels, minlength=probs.shape[1]).float()
        present = int((counts > 0).sum())
        weights = len(keep) / (present * counts[kept_labels])
    targets = probs[keep] if soft else kept_labels
    return PseudoLabelSet(keep, targets, weights, confidence[keep])


class PoolLabels(nn.Module):
    """The pseudo-labels of every pool sample, as buffers (so they are checkpointed with the extra models):
    ``targets`` [N, K] probabilities (one-hot for hard labels) and ``weights`` [N] (0 for the samples below the
    threshold); ``ready`` says whether the teacher has labeled the pool yet."""

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


class NoisyStudent(Consistency):
    """The teacher's pseudo-labels (the extra model "pseudo_labels"), looked up by the unlabeled samples'
    ``index``, taught to the strong view of the pool, each sample weighted (class balance; 0 below the
    threshold). The teacher (``semisup.teacher``) is checked and loaded when the scheme is made."""

    name = "noisy_student"

    def __init__(self, task: Task, cfg: Config, bundle: DataBundle) -> None:
        if task.per_pixel:
            raise VislabError(f"semisup.method=noisy_student labels whole images; for {task.name} use fixmatch or mean_teacher")
        super().__init__(task, cfg, bundle)
        self.teacher = load_teacher(cfg.semisup.teacher, bundle.info, "semisup.teacher")  # type: ignore[arg-type]

    def extra_models(self, model: nn.Module) -> dict[str, nn.Module]:
        return {**super().extra_models(model), "pseudo_labels": PoolLabels(len(self.bundle.unlabeled), self.bundle.info.num_classes)}

    def step(self, model: nn.Module, batch: dict, ctx: StepContext) -> tuple[torch.Tensor, Any]:
        """The task's loss on the labeled batch + ``semisup.weight`` x the pseudo-label loss on the strong views;
        the first step has the teacher label the pool."""
        unlabeled, g = ctx.batches["unlabeled"], self.generator(ctx)
        labels = ctx.models["pseudo_labels"]
        if not bool(labels.ready):
            self.label_pool(ctx)
        out_labeled, out_strong = self.joint_forward(model, [batch, {**unlabeled, "image": self.strong(unlabeled["image"], g)}])
        rows = unlabeled["index"].to(labels.targets.device)
        loss = soft_cross_entropy(self.logits(out_strong), labels.targets[rows], labels.weights[rows])
        return self.task.loss(out_labeled, batch) + self.cfg.semisup.weight * loss, out_labeled

    def label_pool(self, ctx: StepContext) -> None:
        """The teacher labels the whole pool once, un-noised, on the training device."""
        cfg = self.cfg
        run = lambda m, b: self.teacher_logits(m, b)  # noqa: E731
        info = self.bundle.info
        mean, std = (info.mean, info.std) if cfg.aug.normalize else (None, None)
        probs = teacher_probabilities(ctx.models["teacher"], self.bundle.unlabeled, cfg.aug, mean, std, ctx.fabric.device,
                                      cfg.train.eval_batch_size or cfg.train.batch_size, run)
        s = cfg.semisup
        ctx.models["pseudo_labels"].fill(select(probs, s.threshold, s.pseudo == "soft", s.balance))
