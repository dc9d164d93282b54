"""What one kind of work computes. The engine knows nothing of classification or segmentation beyond this."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Protocol, Sequence

import torch
from torch import nn

from ..data.bundle import DataBundle
from ..errors import VislabError


class Metrics(Protocol):
    """An accumulator over batches; torchmetrics-backed ones reduce across processes in ``compute``."""

    def update(self, outputs: Any, batch: dict) -> None: ...

    def compute(self) -> dict[str, float]: ...

    def reset(self) -> None: ...


class Task:
    """Loss, metrics and end-of-run artifacts for one kind of work.

    ``monitor``/``mode``: the default metric (without split prefix) that picks the best checkpoint.
    Metric names carry no split prefix; the engine adds ``train_``, ``val_`` and ``test_``.
    """

    monitor: str = "loss"
    mode: str = "min"
    temperature: float = 1.0  # divides class logits before the softmax in predict_files (set from `vislab calibrate`)
    exports_panoptic: bool = False  # whether export_panoptic applies (`vislab eval --export-panoptic`)

    def forward(self, model: nn.Module, batch: dict) -> Any:
        """Model outputs for a training batch."""
        return model(batch["image"])

    def predict(self, model: nn.Module, batch: dict) -> Any:
        """Model outputs for an evaluation batch (whole images, sliding windows, ...)."""
        return self.forward(model, batch)

    def loss(self, outputs: Any, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def metrics(self, train: bool = False) -> Metrics:
        """A fresh accumulator; ``train=True`` asks for the cheap ones shown while training."""
        raise NotImplementedError

    def train_sampler(self, bundle: DataBundle) -> Optional[Callable[..., Any]]:
        """The training batch sampler, called like data.sampling.EpochBatchSampler, for tasks whose
        batches must be arranged; None: the seeded shuffle."""
        return None

    def finalize(self, artifacts_dir: Path, predictions: Iterable[tuple[Any, dict]], bundle: DataBundle) -> dict:
        """Write artifacts from (outputs, batch) pairs over the validation split; return summary additions."""
        return {}

    def eval_settings(self) -> dict:
        """How evaluation ran beyond the checkpoint (test-time augmentation, post-processing), as the eval JSON
        records it."""
        return {}

    def export_panoptic(self, out: Path, predictions: Iterable[tuple[Any, dict]]) -> list[Path]:
        """Write the panoptic predictions and ground truth of (outputs, batch) pairs in COCO panoptic format."""
        raise NotImplementedError


def refuse_unused(cfg: Any, keys: Sequence[str], what: str) -> None:
    """Bad input when any of ``keys`` (dotted) differs from its default: they do nothing for ``what``."""
    from ..config import Config, flatten

    given, default = flatten(cfg), flatten(Config())
    for key in keys:
        if given[key] != default[key]:
            raise VislabError(f"config key '{key}' does nothing for {what}; remove it")
