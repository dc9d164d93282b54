"""Classification metrics: top-1, balanced accuracy, top-5 and macro F1 through torchmetrics, fed with hard labels."""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from ...calibration import CalibrationError



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


def classification_metrics(num_classes: int, train: bool) -> dict:
    """acc (top-1); for evaluation also balanced_acc (the mean of the per-class recalls, which a majority class
    cannot carry), macro_f1, ece (expected calibration error, 15 bins) and top5 where there are at least 5 classes. Feed them probabilities (class_probabilities): the calibration error, like
    average precision, would take logits that happen to lie in [0, 1] for probabilities."""
    metrics: dict[str, Any] = {"acc": MulticlassAccuracy(num_classes, average="micro")}
    if not train:
        metrics["balanced_acc"] = MulticlassAccuracy(num_classes, average="macro")
        metrics["macro_f1"] = MulticlassF1Score(num_classes, average="macro")
        metrics["ece"] = CalibrationError()
        if num_classes >= 5:
            metrics["top5"] = MulticlassAccuracy(num_classes, top_k=5, average="micro")
    return metrics


def class_probabilities(logits: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(softmax probabilities [B, C] of class logits [B, C], hard labels [B]): what the metrics take."""
    return logits.float().softmax(1), hard_labels(batch["target"])
