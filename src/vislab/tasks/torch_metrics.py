"""Metrics through torchmetrics, as every task keeps them: fed per batch, read while training (``peek``) and at
the end of an epoch (``compute``)."""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torchmetrics import MetricCollection


def hard_labels(target: torch.Tensor) -> torch.Tensor:
    """Class ids [B] from class ids [B] or soft targets [B, C] (CutMix, MixUp: the dominant class)."""
    return target.argmax(1) if target.ndim == 2 else target


class TorchMetrics:
    """A torchmetrics collection fed with logits and the batch's hard labels, or with what
    ``inputs(outputs, batch) -> tuple of tensors`` picks (the first one decides the device)."""

    def __init__(
        self, metrics: dict, target_key: str = "target", inputs: Optional[Callable[[Any, dict], tuple]] = None
    ) -> None:
        self.collection = MetricCollection(metrics, compute_groups=False)  # groups can merge acc and top5 states wrongly
        self.target_key = target_key
        self.inputs = inputs
        self.device: torch.device | None = None

    def update(self, outputs: Any, batch: dict) -> None:
        args = self.inputs(outputs, batch) if self.inputs else (outputs, hard_labels(batch[self.target_key]))
        if self.device != args[0].device:
            self.device = args[0].device
            self.collection.to(self.device)
        self.collection.update(*(a.detach() for a in args))

    def summarize(self, raw: dict[str, torch.Tensor]) -> dict[str, float]:
        """The reported values from the collection's raw results, by metric name. ``compute`` and ``peek`` both
        go through it, so a family whose raw result is not a number (a confusion matrix, PQ counts) overrides
        this one method and the progress display shows what the epoch row will."""
        return {k: float(v) for k, v in raw.items()}

    def compute(self) -> dict[str, float]:
        return self.summarize(self.collection.compute())

    def peek(self) -> dict[str, float]:
        """This process's running values, without synchronizing processes (for the progress bar)."""
        raw = {}
        for name, metric in self.collection.items(keep_base=True):
            # torchmetrics syncs inside compute() when _to_sync is set; switch it off for this look only
            # and drop the cached result, so the epoch's compute() still reduces over processes.
            to_sync, metric._to_sync = metric._to_sync, False
            try:
                raw[name] = metric.compute()
            finally:
                metric._to_sync, metric._computed = to_sync, None
        return self.summarize(raw)

    def reset(self) -> None:
        self.collection.reset()

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The accumulated states (for a mid-epoch checkpoint)."""
        return {
            f"{name}.{key}": value
            for name, metric in self.collection.items(keep_base=True)
            for key, value in metric.metric_state.items()
            if torch.is_tensor(value)
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        metrics = dict(self.collection.items(keep_base=True))
        for full_key, value in state.items():
            name, key = full_key.rsplit(".", 1)
            setattr(metrics[name], key, value.clone())
            metrics[name]._update_count = max(1, metrics[name]._update_count)
