"""Panoptic artifacts: PQ tables and instance-coloured PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..tables import fmt_number, write_tables
from .metrics import pq_scores
from ...viz import colorize


def panoptic_colors(classes: np.ndarray, instances: np.ndarray, ignore_index: int) -> np.ndarray:
    """uint8 [H,W,3]: each instance (classes and instance ids [H,W]) a distinct bright colour, stuff in its
    class's palette colour, void black."""
    image = colorize(np.where(classes == ignore_index, 0, classes))
    hue = (np.arange(int(instances.max()) + 1) * 0.618034) % 1.0  # golden-ratio steps: neighbours in id differ
    rgb = np.stack([_channel(hue, shift) for shift in (0.0, 1 / 3, 2 / 3)], 1)
    image = np.where((instances > 0)[..., None], rgb[instances], image)
    return np.where((classes == ignore_index)[..., None], 0, image).astype(np.uint8)


def _channel(hue: np.ndarray, shift: float) -> np.ndarray:
    """One RGB channel (0..255) of fully saturated colours of ``hue`` in [0, 1)."""
    return (255 * np.clip(np.abs(((hue + shift) % 1.0) * 6 - 3) - 1, 0.2, 1)).round()


def write_pq_tables(out: Path, counts: torch.Tensor, class_names: Sequence[str], things: Sequence[int]) -> None:
    """per_class_pq.csv and per_class_pq.md: PQ, SQ, RQ and the matched (tp), false and missed segments per class."""
    s = pq_scores(counts, things)
    header = ["class", "kind", "pq", "sq", "rq", "tp", "fp", "fn"]
    rows = [[name, "thing" if i in things else "stuff", *(fmt_number(float(s[f"{k}_class"][i])) for k in ("pq", "sq", "rq")),
             *(int(counts[j, i]) for j in range(3))] for i, name in enumerate(class_names)]
    footer = "; ".join(f"{label}: PQ {fmt_number(s['pq' + k])}, SQ {fmt_number(s['sq' + k])}, RQ {fmt_number(s['rq' + k])}"
                       for label, k in (("all", ""), ("things", "_things"), ("stuff", "_stuff")))
    write_tables(out / "per_class_pq", header, rows, footer)
