"""Segmentation artifacts: IoU tables (CSV and Markdown)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import torch

from ..tables import fmt_number, write_tables


def write_iou_tables(out: Path, s: dict[str, Any], matrix: torch.Tensor, class_names: Sequence[str]) -> None:
    """per_class_iou.csv and per_class_iou.md: IoU, accuracy (recall), and pixel counts per class."""
    support, predicted = matrix.sum(1).tolist(), matrix.sum(0).tolist()
    rows = []
    for i, name in enumerate(class_names):
        iou = float(s["iou"][i])
        acc = matrix[i, i].item() / support[i] if support[i] else math.nan
        rows.append([name, fmt_number(iou), fmt_number(acc), support[i], predicted[i]])
    header = ["class", "iou", "accuracy", "pixels", "predicted_pixels"]
    footer = f"mIoU {fmt_number(s['miou'])}, pixel accuracy {fmt_number(s['pixel_acc'])}, mean class accuracy {fmt_number(s['mean_acc'])}"
    write_tables(out / "per_class_iou", header, rows, footer)
