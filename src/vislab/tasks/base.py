"""What one kind of work computes. The engine knows nothing of classification or segmentation beyond this."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Protocol

import torch
from torch import nn

from ..data.bundle import DataBundle


class Metrics(Protocol):
    """An accumulator over batches; torchmetrics-backed ones reduce across processes in ``compute``."""

    def update(self, outputs: Any, batch: dict) -> None: ...

    def compute(self) -> dict[str, float]: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class StepContext:
    """Where a training step stands: ``global_step`` counts steps over the whole run (before this one)."""

    epoch: int
    step: int
    global_step: int
    steps_per_epoch: int
    seed: int
    device: torch.device
    rank: int = 0
    world_size: int = 1


class Task:
    """Loss, metrics and end-of-run artifacts for one kind of work.

    ``monitor``/``mode``: the default metric (without split prefix) that picks the best checkpoint.
    Metric names carry no split prefix; the engine adds ``train_``, ``val_`` and ``test_``.
    """

    monitor: str = "loss"
    mode: str = "min"

    def forward(self, model: nn.Module, batch: dict) -> Any:
        """Model outputs for a training batch."""
        return model(batch["image"])

    def predict(self, model: nn.Module, batch: dict) -> Any:
        """Model outputs for an evaluation batch (whole images, sliding windows, ...)."""
        return self.forward(model, batch)

    def loss(self, outputs: Any, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, model: nn.Module, batch: dict, ctx: StepContext) -> tuple[torch.Tensor, Any]:
        """(loss, outputs) of one training batch; outputs feed the training metrics."""
        outputs = self.forward(model, batch)
        return self.loss(outputs, batch), outputs

    def after_optimizer_step(self, model: nn.Module, ctx: StepContext) -> None:
        """Called after every optimizer step (an EMA teacher follows the model here)."""

    def state_dict(self) -> dict[str, Any]:
        """What the task keeps across steps (EMA weights, pseudo-labels), saved in every checkpoint."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""

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
