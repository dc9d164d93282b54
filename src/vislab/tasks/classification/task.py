"""Image classification: cross-entropy (hard or soft targets), top-1/top-5/macro-F1/ECE, flip test-time
augmentation, confusion, per-class and calibration artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch
import torch.nn.functional as F

from ...config import Config
from ...data.bundle import DataBundle, DataInfo
from ...tta import classification_tta, describe, mean_outputs
from ..base import Task
from .artifacts import Samples, write_classification_report
from ..torch_metrics import TorchMetrics, hard_labels
from .metrics import class_probabilities, classification_metrics
from .predict import batch_preparer, write_predictions_csv

PREDICT_BATCH = 64  # images per forward of `vislab predict`


class ClassificationTask(Task):
    name = "classification"
    monitor = "acc"
    mode = "max"
    predict_options = ("topk",)
    votes = True
    reads = {"loss": ("label_smoothing", "class_weights", "distill"), "eval": ("tta.flip",)}
    domain_names: list[str] = []  # for tasks that declare ``domains``: the names of the domain ids (in the gallery)

    def __init__(self, cfg: Config, info: DataInfo) -> None:
        self.num_classes = cfg.model.num_classes or info.num_classes
        self.class_names = info.class_names
        self.flip = cfg.eval.tta.flip
        self.label_smoothing = cfg.loss.label_smoothing
        self.class_weights = torch.tensor(cfg.loss.class_weights) if cfg.loss.class_weights else None

    def class_logits(self, outputs: Any) -> torch.Tensor:
        """The class logits [B, C] among a model's outputs (here the outputs themselves)."""
        return outputs

    def sample_records(self, outputs: Any, batch: dict) -> dict[str, torch.Tensor]:
        """Each image's index, whether its top-1 class is right, and its top-1 probability."""
        confidence, pred = self.class_logits(outputs).float().softmax(1).max(1)
        return {"index": batch["index"], "correct": pred == hard_labels(batch["target"]), "confidence": confidence.half()}

    def loss(self, outputs: torch.Tensor, batch: dict) -> torch.Tensor:
        weight = self.class_weights.to(outputs.device) if self.class_weights is not None else None
        return F.cross_entropy(outputs, batch["target"], weight=weight, label_smoothing=self.label_smoothing)

    def metrics(self, train: bool = False) -> TorchMetrics:
        return TorchMetrics(classification_metrics(self.num_classes, train), inputs=class_probabilities)

    def predict(self, model: torch.nn.Module, batch: dict) -> Any:
        """The outputs for an evaluation batch, averaged with those of the mirrored images under ``eval.tta.flip``."""
        outputs = self.forward(model, batch)
        if not self.flip:
            return outputs
        return mean_outputs(outputs, self.forward(model, {**batch, "image": batch["image"].flip(-1)}))

    def eval_settings(self) -> dict:
        return {"tta": describe(self.flip, [1.0])}

    @torch.inference_mode()
    def predict_files(
        self, model: torch.nn.Module, files: list[Path], *, cfg: Config, info: DataInfo, device: torch.device,
        layout: Callable[[torch.Tensor], torch.Tensor], out: Optional[Path] = None, topk: int = 5,
    ) -> list[dict[str, Any]]:
        """The ``topk`` most probable classes of each image file; ``out`` gets them as CSV
        (file, class_1, prob_1, ..., class_k, prob_k). Images go through the run's evaluation pipeline; logits
        are averaged with the mirrored image's under ``eval.tta.flip`` and divided by the run's ``temperature``."""
        from ...data.images import prefetched
        from ...threads import usable_cores

        k = min(topk, self.num_classes)
        chunks = [files[start : start + PREDICT_BATCH] for start in range(0, len(files), PREDICT_BATCH)]
        # Batches decode ahead in threads while the model runs: on a GPU one a core (up to 8), as decoding is
        # what it waits for; on a CPU in one thread where torch leaves a core free, else in line, as a decoding
        # thread only takes turns with torch's (measured for 1,000 digits on 2 cores: 52 ms in line against
        # 62-97 ms with the thread).
        cores = usable_cores()
        workers = min(8, cores) if device.type != "cpu" else int(torch.get_num_threads() < cores)
        batches = prefetched(chunks, batch_preparer(cfg.aug, info), ahead=max(1, workers), workers=workers)
        mean = torch.tensor(info.mean, device=device).view(1, -1, 1, 1)
        std = torch.tensor(info.std, device=device).view(1, -1, 1, 1)
        top: list[tuple[torch.Tensor, torch.Tensor]] = []
        for images in batches:
            x = images.to(device, non_blocking=True)
            if cfg.aug.normalize:
                x = (x - mean) / std
            x = layout(x)
            logits = classification_tta(model, x, self.flip).float()
            top.append((logits / self.temperature).softmax(1).topk(k, 1))  # kept on the device: one transfer at the end
        rows: list[dict[str, Any]] = []
        probs = torch.cat([p for p, _ in top]).tolist() if top else []
        classes = torch.cat([c for _, c in top]).tolist() if top else []
        for f, p, c in zip(files, probs, classes):
            names = [self.class_names[i] for i in c]
            rows.append({"file": str(f), "classes": names, "probabilities": p,
                         "summary": ", ".join(f"{n} {q:.3f}" for n, q in zip(names, p))})
        if out is not None:
            write_predictions_csv(out, rows, k)
        return rows

    def finalize(self, artifacts_dir: Path, predictions: Iterable[tuple[Any, dict]], bundle: DataBundle) -> dict:
        """Confusion matrix (PNG, CSV), per-class precision/recall/F1/support (CSV, Markdown), reliability
        diagram, gallery of misclassified validation images (named by domain where samples have one)."""
        truth, probs, index, domain = [], [], [], []
        for logits, batch in predictions:
            probs.append(logits.float().softmax(1).cpu())
            truth.append(hard_labels(batch["target"]).cpu())
            index.append(torch.as_tensor(batch["index"]).cpu())
            if self.domains:
                domain.append(batch["domain"].cpu())
        if not truth:
            return {}
        names = [self.domain_names[int(d)] for d in torch.cat(domain)] if domain else None
        samples = Samples(torch.cat(truth), torch.cat(probs), torch.cat(index), names)
        return write_classification_report(artifacts_dir, samples, self.class_names, bundle.val,
                                           "validation split, best checkpoint")
