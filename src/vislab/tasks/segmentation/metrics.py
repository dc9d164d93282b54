"""Segmentation metrics from one confusion matrix: mIoU, pixel and mean class accuracy, IoU per class."""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

import torch

from ...metric import Metric
from ..metrics import MetricSet


TRAIN_PIXEL_STRIDE = 4  # training metrics count every 4th pixel row and column (see SegmentationMetrics)


def labels(logits: torch.Tensor) -> torch.Tensor:
    """Class ids [B, H, W] from logits [B, K, H, W]. ``max(1)`` rather than ``argmax(1)``: on CPU it is
    several times faster over the channel dimension, and picks the same (first) maximum."""
    return logits.detach().max(1).indices


def confusion(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    """int64 [K, K] counts of (true class, predicted class) over pixels whose target is not ignored."""
    k2 = num_classes**2
    target = target.long()  # a uint8 target would wrap: 20 * 21 + 20 = 440 is 184 in uint8
    codes = torch.where(target != ignore_index, target * num_classes + pred, k2)  # ignored pixels count in bin k2
    return torch.bincount(codes.flatten(), minlength=k2 + 1)[:k2].reshape(num_classes, num_classes)


def scores(matrix: torch.Tensor) -> dict[str, Any]:
    """From a confusion matrix [K, K] (rows: truth): per-class ``iou`` [K] (nan where a class is neither
    present nor predicted), ``miou``, ``pixel_acc`` and ``mean_acc`` (mean per-class recall)."""
    m = matrix.double()
    tp, support, predicted = m.diag(), m.sum(1), m.sum(0)
    union = support + predicted - tp
    iou = torch.where(union > 0, tp / union.clamp_min(1), torch.nan)
    recall = torch.where(support > 0, tp / support.clamp_min(1), torch.nan)
    return {
        "iou": iou,
        "miou": float(iou.nanmean()),
        "pixel_acc": float(tp.sum() / m.sum()) if m.sum() > 0 else math.nan,
        "mean_acc": float(recall.nanmean()),
    }


def image_sizes(batch: dict) -> list[list[int]]:
    """Each image's own [H, W] in a batch: ``size`` where a padding collate recorded it, else the batch's."""
    if "size" in batch:
        return batch["size"].tolist()
    return [list(batch["target"].shape[-2:])] * len(batch["target"])


def metric_name(class_name: str) -> str:
    """'potted plant' -> 'potted_plant', usable as a metrics.csv column."""
    return re.sub(r"\W+", "_", class_name).strip("_") or "class"


class ConfusionMatrix(Metric):
    """A confusion matrix accumulated over batches, summed across processes."""

    def __init__(self, num_classes: int, ignore_index: int) -> None:
        super().__init__()
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.add_state("matrix", torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        self.matrix += confusion(pred, target, self.num_classes, self.ignore_index)

    def value(self) -> torch.Tensor:
        return self.matrix


class SegmentationMetrics(MetricSet):
    """miou and pixel_acc; for evaluation also mean_acc and iou_<class> per class.

    ``pixel_stride`` s > 1 counts only every s-th pixel row and column (a fixed grid, 1/s^2 of the pixels):
    the training metrics use it, because the per-pixel max and count over full-size logits were the last
    cost of the training step beyond the plain loop's; evaluation counts every pixel.
    """

    def __init__(self, num_classes: int, ignore_index: int, class_names: Sequence[str], per_class: bool,
                 pixel_stride: int = 1) -> None:
        super().__init__({"confusion": ConfusionMatrix(num_classes, ignore_index)})
        self.class_names = [metric_name(n) for n in class_names]
        self.per_class = per_class
        self.stride = pixel_stride

    def update(self, outputs: dict, batch: dict) -> None:
        logits, target = outputs["out"], batch["target"]
        self.follow(logits.device)
        if self.stride > 1:
            logits, target = logits[..., :: self.stride, :: self.stride], target[..., :: self.stride, :: self.stride]
        self.metrics["confusion"].update(labels(logits), target)

    def summarize(self, raw: dict[str, torch.Tensor]) -> dict[str, float]:
        s = scores(raw["confusion"])
        if not self.per_class:
            return {"miou": s["miou"], "pixel_acc": s["pixel_acc"]}
        per_class = {f"iou_{n}": float(v) for n, v in zip(self.class_names, s["iou"])}
        return {"miou": s["miou"], "pixel_acc": s["pixel_acc"], "mean_acc": s["mean_acc"], **per_class}
