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
from torch.utils.data import Dataset

from ..config import AugConfig
from ..data.batch_augment import augment_for_memory
from ..data.datasets import MemoryDataset
from ..data.labeled import Subset
from ..data.loading import Loader
from ..data.transforms import build_transform
from ..errors import VislabError


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
