"""A task's metrics as every task keeps them: fed per batch, read while training (``peek``) and at the end of
an epoch (``compute``, reduced over processes)."""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch

from ..metric import Metric


def hard_labels(target: torch.Tensor) -> torch.Tensor:
    """Class ids [B] from class ids [B] or soft targets [B, C] (CutMix, MixUp: the dominant class)."""
    return target.argmax(1) if target.ndim == 2 else target


class MetricSet:
    """Named metrics fed with logits and the batch's hard labels, or with what
    ``inputs(outputs, batch) -> tuple of tensors`` picks (the first one decides the device). A metric whose
    value is a dict (AccuracyPerDomain) reports each of its entries under its own name."""

    def __init__(
        self, metrics: dict[str, Metric], target_key: str = "target", inputs: Optional[Callable[[Any, dict], tuple]] = None
    ) -> None:
        self.metrics = metrics
        self.target_key = target_key
        self.inputs = inputs
        self.device: torch.device | None = None

    def follow(self, device: torch.device) -> None:
        """The metrics' states on ``device``, where the batches are."""
        if self.device != device:
            self.device = device
            for metric in self.metrics.values():
                metric.to(device)

    def update(self, outputs: Any, batch: dict) -> None:
        args = self.inputs(outputs, batch) if self.inputs else (outputs, hard_labels(batch[self.target_key]))
        self.follow(args[0].device)
        for metric in self.metrics.values():
            metric.update(*(a.detach() for a in args))

    def summarize(self, raw: dict[str, Any]) -> dict[str, float]:
        """The reported values from the metrics' raw results, by metric name. ``compute`` and ``peek`` both
        go through it, so a family whose raw result is not a number (a confusion matrix, PQ counts) overrides
        this one method and the progress display shows what the epoch row will."""
        flat: dict[str, float] = {}
        for name, value in raw.items():
            flat.update({k: float(v) for k, v in value.items()} if isinstance(value, dict) else {name: float(value)})
        return flat

    def compute(self) -> dict[str, float]:
        return self.summarize({name: metric.compute() for name, metric in self.metrics.items()})

    def peek(self) -> dict[str, float]:
        """This process's running values, without synchronizing processes (for the progress bar)."""
        return self.summarize({name: metric.value() for name, metric in self.metrics.items()})

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The accumulated states (for a mid-epoch checkpoint)."""
        return {f"{name}.{key}": value for name, metric in self.metrics.items() for key, value in metric.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name, metric in self.metrics.items():
            metric.load_state_dict({key[len(name) + 1 :]: v for key, v in state.items() if key.startswith(name + ".")})
