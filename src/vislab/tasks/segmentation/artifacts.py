"""Segmentation artifacts: IoU tables (CSV and Markdown)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Sequence

import torch



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


def write_tables(stem: Path, header: Sequence[str], rows: Sequence[Sequence[Any]], footer: str) -> None:
    """One table as STEM.csv, and as STEM.md with ``footer`` below it."""
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    stem.with_suffix(".md").write_text("\n".join(lines) + f"\n\n{footer}\n")


def fmt_number(v: float) -> str:
    """A score with 4 decimals; nan as an empty cell."""
    return "" if math.isnan(v) else f"{v:.4f}"
