"""Classification artifacts: confusion matrix, per-class precision/recall/F1/support, reliability diagram,
gallery of the most confident mistakes."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ...calibration import reliability_bins, save_reliability_diagram
from ...cam import beside
from ...viz import save_confusion, save_grid, to_display
from ..tables import fmt_number, write_tables


@dataclass
class Samples:
    """Per-sample results over a split: true classes [N], probabilities [N, C], dataset indices [N], and
    each sample's domain name where samples carry one."""

    truth: torch.Tensor
    probs: torch.Tensor
    index: torch.Tensor
    domains: Optional[list[str]] = None


def per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """From a confusion matrix [K, K] of counts (rows: truth): per-class ``precision``, ``recall``, ``f1`` [K]
    (nan where undefined: nothing predicted, no sample, neither) and ``support`` [K]."""
    m = matrix.astype(np.float64)
    tp, support, predicted = np.diag(m), m.sum(1), m.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "precision": np.where(predicted > 0, tp / predicted, np.nan),
            "recall": np.where(support > 0, tp / support, np.nan),
            "f1": np.where(support + predicted > 0, 2 * tp / (support + predicted), np.nan),
            "support": matrix.sum(1),
        }


def defined_mean(values: np.ndarray) -> float:
    """The mean of the values that are not nan; nan (and no RuntimeWarning) when none is."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else math.nan


def write_per_class_table(out: Path, matrix: np.ndarray, class_names: Sequence[str]) -> None:
    """per_class.csv and per_class.md: precision, recall, F1 and support per class, with the accuracy and the
    macro means (over the classes with samples, as scikit-learn's classification_report less its warnings)."""
    s = per_class_scores(matrix)
    rows = [[name, *(fmt_number(float(s[k][i])) for k in ("precision", "recall", "f1")), int(s["support"][i])]
            for i, name in enumerate(class_names)]
    seen = s["support"] > 0
    macro = {k: defined_mean(s[k][seen]) for k in ("precision", "recall", "f1")}
    accuracy = float(np.trace(matrix) / matrix.sum()) if matrix.sum() else math.nan
    said = {k: fmt_number(v) or "n/a" for k, v in macro.items()}  # a sentence, not a table cell, so no blank
    footer = (f"accuracy {fmt_number(accuracy) or 'n/a'} over {int(matrix.sum())} samples; macro mean over the {int(seen.sum())} "
              f"classes with samples: precision {said['precision']}, recall {said['recall']}, F1 {said['f1']}")
    write_tables(out / "per_class", ["class", "precision", "recall", "f1", "support"], rows, footer)


GALLERY = 32  # misclassified images shown, the most confident first


def gallery_key(confidence: float, position: int) -> tuple[float, int]:
    """The gallery's order of mistakes: the most confident first, ties in sample order."""
    return -confidence, position


def keep_mistakes(kept: dict[int, tuple[float, torch.Tensor]], probs: torch.Tensor, truth: torch.Tensor,
                  images: torch.Tensor, offset: int) -> None:
    """Add a batch's mistakes to ``kept`` (sample position -> (confidence, model input [C, H, W])), then drop
    all but the GALLERY first in the gallery's order: the inputs whose maps the gallery shows, without a
    second pass over the split. ``probs`` [B, K], ``truth`` [B], ``images`` [B, C, H, W]; ``offset``: the
    position of the batch's first sample."""
    confidence, pred = probs.max(1)
    for j in (pred != truth).nonzero().flatten().tolist():
        kept[offset + j] = (float(confidence[j]), images[j].detach().float().cpu().clone())
    for position in sorted(kept, key=lambda i: gallery_key(kept[i][0], i))[GALLERY:]:
        del kept[position]


def caption(true_name: str, predicted_name: str, probability: float, domain: Optional[str] = None) -> str:
    """A gallery caption that explains itself: 'true 5, predicted 6, p=0.28[, domain tinted]'."""
    text = f"true {true_name}, predicted {predicted_name}, p={probability:.2f}"
    return f"{text}, domain {domain}" if domain is not None else text


def write_classification_report(out: Path, samples: Samples, class_names: list[str], dataset: Any, title: str,
                                maps: Optional[tuple[str, dict[int, np.ndarray], dict[int, int]]] = None) -> dict:
    """The artifacts of a classification run over a split (``title`` names it and the checkpoint). ``maps``:
    (method, sample position -> class-activation map [H, W], position -> the class it explains) for the
    gallery's images, each shown beside its image."""
    k = len(class_names)
    confidence, pred = samples.probs.max(1)
    truth = samples.truth
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (truth.numpy(), pred.numpy()), 1)
    with open(out / "confusion_matrix.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true\\pred", *class_names])
        for name, row in zip(class_names, matrix):
            w.writerow([name, *row.tolist()])
    save_confusion(out / "confusion_matrix.png", matrix, class_names, f"confusion matrix, {title}")
    write_per_class_table(out, matrix, class_names)
    save_reliability_diagram(out / "reliability.png", reliability_bins(samples.probs, truth), f"reliability, {title}")
    wrong = sorted((truth != pred).nonzero().flatten().tolist(), key=lambda i: gallery_key(float(confidence[i]), i))[:GALLERY]
    images, titles = [], []
    for i in wrong:
        shown = to_display(dataset[int(samples.index[i])]["image"])
        images.append(shown)
        titles.append(caption(class_names[int(truth[i])], class_names[int(pred[i])], float(confidence[i]),
                              samples.domains[i] if samples.domains else None))
        if maps is not None:
            method, cams, explained = maps
            images.append(beside(shown, cams[i]))
            titles.append(f"{method} of {class_names[explained[i]]}")
    if images:
        save_grid(out / "misclassified.png", images, titles)
    return {"val_misclassified": int((truth != pred).sum())}
