"""What a dataset hands downstream: the splits, and `DataInfo` (vislab.data_info), everything else needs to know
about them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from torch.utils.data import Dataset

from ..data_info import DataInfo


@dataclass
class DataBundle:
    """The splits of one dataset.

    Each split is a map-style dataset whose items are dicts: ``image`` (uint8 [C,H,W], or float in [0, 1]),
    ``target`` (int64 [] or [H,W]), and task-specific keys; keys are ``index`` or ``(index, sample_seed)``.
    ``batch_transform(batch, generator) -> batch`` runs per training batch on the device after
    normalization (CutMix, MixUp). ``files`` lists each split's files, saved in the run directory.
    ``train_sampler`` (called like data.sampling.EpochBatchSampler) arranges the training batches where
    ``data.sampler`` asks for it; None: the seeded shuffle.
    ``unlabeled`` is the pool of training images without labels (targets hidden), when there is one.
    ``heldout`` is the cross-validation fold held out of training (data.folds), which gets out-of-fold predictions.
    """

    train: Dataset
    val: Dataset
    test: Optional[Dataset]
    info: DataInfo
    batch_transform: Optional[Callable[[dict, Any], dict]] = None
    files: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    train_sampler: Optional[Callable[..., Any]] = None
    unlabeled: Optional[Dataset] = None
    heldout: Optional[Dataset] = None
