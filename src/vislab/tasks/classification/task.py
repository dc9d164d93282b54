"""Image classification: cross-entropy (hard or soft targets), top-1/top-5/macro-F1/ECE, flip test-time
augmentation, confusion, per-class and calibration artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F

from ...cam import explainable, gallery_maps, gallery_method
from ...config import Config
from ...data.bundle import DataBundle, DataInfo
from ...data.loading.class_balance import loss_weights
from ...tta import describe, mean_outputs
from ..base import Task
from ..metrics import MetricSet, hard_labels
from .artifacts import Samples, keep_mistakes, write_classification_report
from .metrics import class_probabilities, classification_metrics


class ClassificationTask(Task):
    name = "classification"
    monitor = "acc"
    mode = "max"
    reads = {"loss": ("label_smoothing", "class_weights", "distill"), "eval": ("tta.flip", "explain")}
    domain_names: list[str] = []  # for tasks that declare ``domains``: the names of the domain ids (in the gallery)

    def __init__(self, cfg: Config, info: DataInfo) -> None:
        self.num_classes = cfg.model.num_classes or info.num_classes
        self.class_names = info.class_names
        self.flip = cfg.eval.tta.flip
        self.label_smoothing = cfg.loss.label_smoothing
        weights = loss_weights(cfg.loss.class_weights, info.class_counts)
        self.class_weights = torch.tensor(weights, dtype=torch.float32) if weights else None
        self.explain = gallery_method(cfg.eval.explain)

    def class_logits(self, outputs: Any) -> torch.Tensor:
        """The class logits [B, C] among a model's outputs (here the outputs themselves)."""
        return outputs

    def sample_records(self, outputs: Any, batch: dict) -> dict[str, torch.Tensor]:
        """Each image's index, its class, whether its top-1 class is right, and its top-1 probability."""
        confidence, pred = self.class_logits(outputs).float().softmax(1).max(1)
        label = hard_labels(batch["target"])
        return {"index": batch["index"], "label": label.int(), "correct": pred == label, "confidence": confidence.half()}

    def loss(self, outputs: torch.Tensor, batch: dict) -> torch.Tensor:
        weight = self.class_weights.to(outputs.device) if self.class_weights is not None else None
        return F.cross_entropy(outputs, batch["target"], weight=weight, label_smoothing=self.label_smoothing)

    def metrics(self, train: bool = False) -> MetricSet:
        return MetricSet(classification_metrics(self.num_classes, train), inputs=class_probabilities)

    def predict(self, model: torch.nn.Module, batch: dict) -> Any:
        """The outputs for an evaluation batch, averaged with those of the mirrored images under ``eval.tta.flip``."""
        outputs = self.forward(model, batch)
        if not self.flip:
            return outputs
        return mean_outputs(outputs, self.forward(model, {**batch, "image": batch["image"].flip(-1)}))

    def eval_settings(self) -> dict:
        return {"tta": describe(self.flip, [1.0])}

    def finalize(self, artifacts_dir: Path, predictions: Iterable[tuple[Any, dict]], bundle: DataBundle,
                 model: torch.nn.Module) -> dict:
        """Confusion matrix (PNG, CSV), per-class precision/recall/F1/support (CSV, Markdown), reliability
        diagram, gallery of misclassified validation images (named by domain where samples have one; with
        ``eval.explain``, each beside the class-activation map of its predicted class)."""
        truth, probs, index, domain = [], [], [], []
        kept: dict[int, tuple[float, torch.Tensor]] = {}
        for logits, batch in predictions:
            probs.append(logits.float().softmax(1).cpu())
            truth.append(hard_labels(batch["target"]).cpu())
            index.append(torch.as_tensor(batch["index"]).cpu())
            if self.domains:
                domain.append(batch["domain"].cpu())
            if self.explain:
                keep_mistakes(kept, probs[-1], truth[-1], batch["image"], sum(len(p) for p in probs[:-1]))
        if not truth:
            return {}
        names = [self.domain_names[int(d)] for d in torch.cat(domain)] if domain else None
        samples = Samples(torch.cat(truth), torch.cat(probs), torch.cat(index), names)
        return write_classification_report(artifacts_dir, samples, self.class_names, bundle.val,
                                           "validation split, best checkpoint", self.gallery_maps(model, kept))

    def gallery_maps(self, model: torch.nn.Module, kept: dict[int, tuple[float, torch.Tensor]]) -> Any:
        """(method, position -> map, position -> class explained) of the gallery's images; None when off, or
        when the model declares no layer to read."""
        if not self.explain or not kept or not explainable(model):
            return None
        positions = sorted(kept)
        device = next(model.parameters()).device
        maps, classes = gallery_maps(model, self.class_names, False, self.explain,
                                     torch.stack([kept[i][1] for i in positions]).to(device))
        return self.explain, dict(zip(positions, maps)), dict(zip(positions, classes))
