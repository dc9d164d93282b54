"""Classification metrics: top-1, top-5 and macro F1 through torchmetrics, fed with hard labels."""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score



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

    def compute(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.collection.compute().items()}

    def peek(self) -> dict[str, float]:
        """This process's running values, without synchronizing processes (for the progress bar)."""
        values = {}
        for name, metric in self.collection.items(keep_base=True):
            # torchmetrics syncs inside compute() when _to_sync is set; switch it off for this look only
            # and drop the cached result, so the epoch's compute() still reduces over processes.
            to_sync, metric._to_sync = metric._to_sync, False
            try:
                values[name] = float(metric.compute())
            finally:
                metric._to_sync, metric._computed = to_sync, None
        return values

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


def classification_metrics(num_classes: int, train: bool) -> dict:
    """acc (top-1); for evaluation also macro f1 and top5 where there are at least 5 classes."""
    metrics: dict[str, Any] = {"acc": MulticlassAccuracy(num_classes, average="micro")}
    if not train:
        metrics["f1"] = MulticlassF1Score(num_classes, average="macro")
        if num_classes >= 5:
            metrics["top5"] = MulticlassAccuracy(num_classes, top_k=5, average="micro")
    return metrics
