"""Where training stands: the typed state saved whole in every checkpoint, so a resume continues exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch


@dataclass
class EpochAccumulators:
    """The training epoch in progress: what its metrics.csv row is computed from, kept in every
    mid-epoch checkpoint so that the resumed epoch reports what the uninterrupted one would have."""

    loss_sum: torch.Tensor  # float64 []: the loss summed over this process's samples
    count: int = 0  # samples that went into loss_sum
    seconds: float = 0.0  # training time of the epoch so far
    lr: float = 0.0  # the learning rate at the epoch's start (the metrics.csv column)
    metrics: Optional[dict[str, torch.Tensor]] = None  # the training metrics' states, as of the checkpoint


@dataclass
class TrainState:
    """Where training stands; saved whole in every checkpoint."""

    epoch: int = 0  # the epoch in progress (0-based); equals the epochs completed between epochs
    step: int = 0  # batches finished within `epoch`
    global_step: int = 0
    best_value: Optional[float] = None
    best_epoch: Optional[int] = None  # 1-based, as in metrics.csv
    bad_epochs: int = 0
    skipped_batches: int = 0
    train_seconds: float = 0.0
    train_images: int = 0
    wall_seconds: float = 0.0
    history: list = field(default_factory=list)
    partial: Optional[EpochAccumulators] = None  # the epoch in progress, for mid-epoch resume

    @classmethod
    def from_checkpoint(cls, state: dict[str, Any]) -> "TrainState":
        """The state as ``dataclasses.asdict`` wrote it into a checkpoint."""
        partial = state.get("partial")
        return cls(**{**state, "partial": EpochAccumulators(**partial) if partial is not None else None})
