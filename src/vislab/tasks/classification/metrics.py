"""Classification metrics: top-1, balanced accuracy, top-5 and macro F1 through torchmetrics, fed with hard labels."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from ...calibration import CalibrationError
from ..torch_metrics import hard_labels


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
