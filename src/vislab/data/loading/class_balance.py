"""Class imbalance: every training image's class read without decoding it, ``loss.class_weights=auto`` (or
``effective``) computed from the class counts, and ``data.sampler=class_balanced``.

``auto`` (also named ``inverse``) weighs each class by the inverse of its training frequency, scaled so that
the weights average 1 over the training images (scikit-learn's ``balanced``: N / (K * n_c)). ``effective``
is the class-balanced weighting of Cui et al. (CVPR 2019): (1 - beta) / (1 - beta^n_c) with beta = 0.999, the
inverse of a class's "effective number of samples", which flattens the inverse frequency for large classes;
scaled to average 1 over the classes, as in the paper.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ...data_info import per_pixel_targets
from ..datasets import FolderDataset
from .sampling import EpochBatchSampler
from .seeding import mix_seed

EFFECTIVE_BETA = 0.999  # Cui et al.'s choice for CIFAR-10-LT-sized classes (hundreds to thousands of images)
COUNTED = ("auto", "inverse", "effective")  # the names of loss.class_weights computed from the class counts


def class_labels(dataset: Dataset, kind: str) -> Optional[list[int]]:
    """The class of every sample of a split of data of ``kind`` (DataInfo.task), read without decoding
    images; None for per-pixel targets. A subset (a labeled cut, a fold, a bag) reads its base split's labels."""
    from .labeled import Subset

    if per_pixel_targets(kind):
        return None
    if isinstance(dataset, Subset):
        base = class_labels(dataset.base, kind)
        return None if base is None else [base[i] for i in dataset.indices]
    if isinstance(dataset, FolderDataset):
        return [label for _, label in dataset.items]
    return [int(t) for t in dataset.targets]  # type: ignore[attr-defined]  # the other splits hold class ids [N]


def class_counts(labels: Sequence[int], num_classes: int) -> np.ndarray:
    """Images per class, int64 [num_classes]."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes)


def loss_weights(setting: Union[list[float], str, None], counts: Optional[Sequence[int]]) -> Optional[list[float]]:
    """The per-class weights ``loss.class_weights`` asks for: none, the list given, or those computed from the
    training ``counts`` (DataInfo.class_counts) under a name of COUNTED."""
    if setting is None or isinstance(setting, list):
        return setting or None
    return counted_weights(setting, counts)  # type: ignore[arg-type]  # config.combinations: a class per image


def counted_weights(name: str, counts: Sequence[int]) -> list[float]:
    """Per-class loss weights [K] for ``loss.class_weights=name`` (auto, inverse or effective; see the module)
    from the training images per class; a class without images gets weight 0 (it has no loss term anyway)."""
    n = np.asarray(counts, dtype=np.float64)
    seen = n > 0
    w = np.zeros_like(n)
    if name == "effective":
        w[seen] = (1 - EFFECTIVE_BETA) / (1 - EFFECTIVE_BETA ** n[seen])
        w *= seen.sum() / w.sum()
    else:
        w[seen] = n.sum() / (seen.sum() * n[seen])
    return w.tolist()


class ClassBalancedSampler(EpochBatchSampler):
    """``data.sampler=class_balanced``: each epoch draws as many samples as the split holds, with replacement,
    each with probability 1 / (K * n_c), so every class is drawn equally often on average (PyTorch's
    WeightedRandomSampler with inverse-frequency weights). The draw comes from a generator seeded with
    (seed, epoch), so a batch depends only on the seed, the epoch and the step, and a resumed run sees the
    batches it would have seen; ``labels`` int64 [N] is the class of every training sample."""

    def __init__(self, size: int, batch_size: int, *, labels: Sequence[int], **kwargs) -> None:
        super().__init__(size, batch_size, **kwargs)
        labels = torch.as_tensor(labels, dtype=torch.int64)
        counts = torch.bincount(labels).double()
        self.weights = 1.0 / counts[labels]

    def order(self) -> list[int]:
        g = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch))
        return torch.multinomial(self.weights, self.size, replacement=True, generator=g).tolist()

    def sample_seed(self, index: int, position: int) -> int:
        """From (seed, epoch, index, position): a rare image drawn twice in an epoch is augmented two ways."""
        return mix_seed(self.seed, self.epoch, index, position)
