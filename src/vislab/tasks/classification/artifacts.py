"""Classification artifacts: confusion matrix, per-class accuracy, gallery of the most confident mistakes."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...viz import save_confusion, save_grid, to_display


def write_classification_report(
    out: Path,
    truth: torch.Tensor,
    pred: torch.Tensor,
    confidence: torch.Tensor,
    index: torch.Tensor,
    class_names: list[str],
    dataset: Any,
    gallery_size: int = 32,
) -> dict:
    """The artifacts of a classification run, from per-sample truth, prediction, confidence and index."""
    k = len(class_names)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (truth.numpy(), pred.numpy()), 1)
    with open(out / "confusion_matrix.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true\\pred", *class_names])
        for name, row in zip(class_names, matrix):
            w.writerow([name, *row.tolist()])
    save_confusion(out / "confusion_matrix.png", matrix, class_names)
    with open(out / "per_class.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class", "support", "correct", "accuracy"])
        for i, name in enumerate(class_names):
            support = int(matrix[i].sum())
            w.writerow([name, support, int(matrix[i, i]), f"{matrix[i, i] / support:.4f}" if support else ""])
    wrong = (truth != pred).nonzero().flatten()
    wrong = wrong[confidence[wrong].argsort(descending=True)][:gallery_size]  # most confident mistakes first
    if len(wrong):
        images = [to_display(dataset[int(index[i])]["image"]) for i in wrong]
        titles = [
            f"{class_names[int(truth[i])]} -> {class_names[int(pred[i])]} ({float(confidence[i]):.2f})" for i in wrong
        ]
        save_grid(out / "misclassified.png", images, titles)
    return {"val_misclassified": int((truth != pred).sum())}
