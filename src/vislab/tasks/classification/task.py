"""Image classification: cross-entropy (hard or soft targets), top-1/top-5/macro-F1, confusion artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional

import torch
import torch.nn.functional as F

from ...config import Config
from ...data.bundle import DataBundle, DataInfo
from ...errors import VislabError
from ..base import Task
from .artifacts import write_classification_report
from .metrics import TorchMetrics, classification_metrics, hard_labels
from .predict import prepare_image, write_predictions_csv


class ClassificationTask(Task):
    name = "classification"
    monitor = "acc"
    mode = "max"
    predict_options = ("topk",)
    votes = True

    def __init__(self, cfg: Config, info: DataInfo) -> None:
        self.num_classes = cfg.model.num_classes or info.num_classes
        self.class_names = info.class_names
        self.label_smoothing = cfg.loss.label_smoothing
        self.class_weights = torch.tensor(cfg.loss.class_weights) if cfg.loss.class_weights else None

    def class_logits(self, outputs: Any) -> torch.Tensor:
        """The class logits [B, C] among a model's outputs (here the outputs themselves)."""
        return outputs

    def loss(self, outputs: torch.Tensor, batch: dict) -> torch.Tensor:
        weight = self.class_weights.to(outputs.device) if self.class_weights is not None else None
        return F.cross_entropy(outputs, batch["target"], weight=weight, label_smoothing=self.label_smoothing)

    def metrics(self, train: bool = False) -> TorchMetrics:
        return TorchMetrics(classification_metrics(self.num_classes, train))

    @torch.no_grad()
    def predict_files(
        self, model: torch.nn.Module, files: list[Path], *, cfg: Config, info: DataInfo, device: torch.device,
        out: Optional[Path] = None, topk: int = 5,
    ) -> list[dict[str, Any]]:
        """The ``topk`` most probable classes of each image file; ``out`` gets them as CSV
        (file, class_1, prob_1, ..., class_k, prob_k). Images go through the run's evaluation pipeline."""
        if topk < 1:
            raise VislabError(f"--topk must be at least 1, not {topk}")
        from ...data.transforms import build_transform

        k = min(topk, self.num_classes)
        transform = build_transform(cfg.aug, train=False)
        rows: list[dict[str, Any]] = []
        for start in range(0, len(files), 64):
            chunk = files[start : start + 64]
            x = torch.stack([prepare_image(f, transform, info) for f in chunk]).to(device).float().div_(255)
            if cfg.aug.normalize:
                x = (x - torch.tensor(info.mean, device=device).view(1, -1, 1, 1)) / torch.tensor(info.std, device=device).view(1, -1, 1, 1)
            probs, classes = model(x).float().softmax(1).topk(k, 1)
            for f, p, c in zip(chunk, probs.tolist(), classes.tolist()):
                names = [self.class_names[i] for i in c]
                rows.append({"file": str(f), "classes": names, "probabilities": p,
                             "summary": ", ".join(f"{n} {q:.3f}" for n, q in zip(names, p))})
        if out is not None:
            write_predictions_csv(out, rows, k)
        return rows

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


