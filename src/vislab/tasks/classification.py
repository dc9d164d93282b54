"""Image classification: cross-entropy (hard or soft targets), top-1/top-5/macro-F1, confusion artifacts."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from ..config import Config
from ..data.bundle import DataBundle, DataInfo
from ..viz import save_confusion, save_grid, to_display
from .base import Task


def hard_labels(target: torch.Tensor) -> torch.Tensor:
    """Class ids [B] from class ids [B] or soft targets [B, C] (CutMix, MixUp: the dominant class)."""
    return target.argmax(1) if target.ndim == 2 else target


class TorchMetrics:
    """A torchmetrics collection fed with logits and the batch's hard labels."""

    def __init__(self, metrics: dict, target_key: str = "target") -> None:
        self.collection = MetricCollection(metrics, compute_groups=False)  # groups can merge acc and top5 states wrongly
        self.target_key = target_key
        self.device: torch.device | None = None

    def update(self, outputs: torch.Tensor, batch: dict) -> None:
        if self.device != outputs.device:
            self.device = outputs.device
            self.collection.to(outputs.device)
        self.collection.update(outputs.detach(), hard_labels(batch[self.target_key]))

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


class ClassificationTask(Task):
    monitor = "acc"
    mode = "max"

    def __init__(self, cfg: Config, info: DataInfo) -> None:
        self.num_classes = cfg.model.num_classes or info.num_classes
        self.class_names = info.class_names
        self.label_smoothing = cfg.loss.label_smoothing
        self.class_weights = torch.tensor(cfg.loss.class_weights) if cfg.loss.class_weights else None

    def loss(self, outputs: torch.Tensor, batch: dict) -> torch.Tensor:
        weight = self.class_weights.to(outputs.device) if self.class_weights is not None else None
        return F.cross_entropy(outputs, batch["target"], weight=weight, label_smoothing=self.label_smoothing)

    def metrics(self, train: bool = False) -> TorchMetrics:
        return TorchMetrics(classification_metrics(self.num_classes, train))

    def finalize(self, artifacts_dir: Path, predictions: Iterable[tuple[Any, dict]], bundle: DataBundle) -> dict:
        """Confusion matrix (PNG, CSV), per-class accuracy (CSV), gallery of misclassified validation images."""
        truth, pred, conf, index = [], [], [], []
        for logits, batch in predictions:
            probs = logits.float().softmax(1)
            p, c = probs.max(1)
            truth.append(hard_labels(batch["target"]).cpu())
            pred.append(c.cpu())
            conf.append(p.cpu())
            index.append(torch.as_tensor(batch["index"]).cpu())
        if not truth:
            return {}
        t, c, p, idx = (torch.cat(x) for x in (truth, pred, conf, index))
        return write_classification_report(artifacts_dir, t, c, p, idx, self.class_names, bundle.val)


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
