"""Classification metrics: top-1, balanced accuracy, top-5, macro F1 and calibration error, fed with class
probabilities [B, C] and class ids [B].

The accuracies and the F1 give the numbers torchmetrics' MulticlassAccuracy (average "micro" and "macro",
top_k) and MulticlassF1Score (average "macro") gave, bit for bit: tests/tasks/test_metrics.py holds them to it.
"""

from __future__ import annotations

from typing import Any

import torch

from ...calibration import CalibrationError
from ...metric import Metric
from ..metrics import hard_labels


def safe_divide(num: torch.Tensor, denom: torch.Tensor) -> torch.Tensor:
    """num / denom as float, 0 where denom is 0."""
    num, denom = num.float(), denom.float()
    return torch.where(denom != 0, num / denom, torch.zeros((), dtype=num.dtype, device=num.device))


class Accuracy(Metric):
    """The share of samples whose class is among the ``top_k`` highest probabilities (ties: torch.topk's
    pick; top_k 1: the first highest). States: right (``tp``) and wrong (``fn``) counts [1]."""

    def __init__(self, top_k: int = 1) -> None:
        super().__init__()
        self.top_k = top_k
        for name in ("tp", "fn"):
            self.add_state(name, torch.zeros(1, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, probs: torch.Tensor, target: torch.Tensor) -> None:
        if self.top_k == 1:
            hit = probs.argmax(1) == target
        else:
            hit = (torch.topk(probs, self.top_k, dim=1).indices == target[:, None]).any(1)
        right = hit.sum()
        self.tp = self.tp + right
        self.fn = self.fn + (len(target) - right)

    def value(self) -> torch.Tensor:
        return safe_divide(self.tp.sum(0), (self.tp + self.fn).sum(0))


class ClassCounts(Metric):
    """Per-class true positives, false positives and false negatives [C] of the top-1 class; ``value``
    averages a per-class score over the classes that occur, in the targets or the predictions."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        for name in ("tp", "fp", "fn"):
            self.add_state(name, torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, probs: torch.Tensor, target: torch.Tensor) -> None:
        pred = probs.argmax(1)
        tp = torch.bincount(target[pred == target], minlength=self.num_classes)
        self.tp = self.tp + tp
        self.fp = self.fp + torch.bincount(pred, minlength=self.num_classes) - tp
        self.fn = self.fn + torch.bincount(target, minlength=self.num_classes) - tp

    def per_class(self) -> torch.Tensor:
        """The score of each class [C]."""
        raise NotImplementedError

    def value(self) -> torch.Tensor:
        # each class's share divided first, then summed: torchmetrics' order of operations, for its bits
        weights = ((self.tp + self.fp + self.fn) != 0).float()
        return safe_divide(weights * self.per_class(), weights.sum(-1, keepdim=True)).sum(-1)


class BalancedAccuracy(ClassCounts):
    """The mean per-class recall (a majority class cannot carry it)."""

    def per_class(self) -> torch.Tensor:
        return safe_divide(self.tp, self.tp + self.fn)


class MacroF1(ClassCounts):
    """The mean per-class F1 score, 2 TP / (2 TP + FP + FN), 0 for a class never right."""

    def per_class(self) -> torch.Tensor:
        return safe_divide(2.0 * self.tp, 2.0 * self.tp + self.fn + self.fp)


def classification_metrics(num_classes: int, train: bool) -> dict[str, Metric]:
    """acc (top-1); for evaluation also balanced_acc (the mean of the per-class recalls, which a majority class
    cannot carry), macro_f1, ece (expected calibration error, 15 bins) and top5 where there are at least 5 classes. Feed them probabilities (class_probabilities): the calibration error, like
    average precision, would take logits that happen to lie in [0, 1] for probabilities."""
    metrics: dict[str, Any] = {"acc": Accuracy()}
    if not train:
        metrics["balanced_acc"] = BalancedAccuracy(num_classes)
        metrics["macro_f1"] = MacroF1(num_classes)
        metrics["ece"] = CalibrationError()
        if num_classes >= 5:
            metrics["top5"] = Accuracy(top_k=5)
    return metrics


def class_probabilities(logits: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(softmax probabilities [B, C] of class logits [B, C], hard labels [B]): what the metrics take."""
    return logits.float().softmax(1), hard_labels(batch["target"])
