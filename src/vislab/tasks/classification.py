"""Image classification: cross-entropy (hard or soft targets), top-1/top-5/macro-F1, confusion artifacts."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from ..config import Config
from ..data.bundle import DataBundle, DataInfo
from ..errors import VislabError
from ..viz import save_confusion, save_grid, to_display
from .base import Task


def hard_labels(target: torch.Tensor) -> torch.Tensor:
    """Class ids [B] from class ids [B] or soft targets [B, C] (CutMix, MixUp: the dominant class)."""
    return target.argmax(1) if target.ndim == 2 else target


class TorchMetrics:
    """A torchmetrics collection fed with logits and the batch's hard labels, or with what
    ``inputs(outputs, batch) -> tuple of tensors`` picks (the first one decides the device)."""

    def __init__(
        self, metrics: dict, target_key: str = "target", inputs: Optional[Callable[[Any, dict], tuple]] = None
    ) -> None:
        self.collection = MetricCollection(metrics, compute_groups=False)  # groups can merge acc and top5 states wrongly
        self.target_key = target_key
        self.inputs = inputs
        self.device: torch.device | None = None

    def update(self, outputs: Any, batch: dict) -> None:
        args = self.inputs(outputs, batch) if self.inputs else (outputs, hard_labels(batch[self.target_key]))
        if self.device != args[0].device:
            self.device = args[0].device
            self.collection.to(self.device)
        self.collection.update(*(a.detach() for a in args))

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
        from ..data.transforms import build_transform

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


def prepare_image(path: Path, transform: Any, info: DataInfo) -> torch.Tensor:
    """An image file as the run's model takes it: uint8 [C, H, W] in the data's channels, through the
    evaluation ``transform`` (or None), then resized to the training size where the data had one size."""
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import functional as TF

    from ..data.images import image_mode, read_image, unreadable_errors

    try:
        image = tv_tensors.Image(read_image(path, image_mode(info.channels)))
    except unreadable_errors() as e:
        raise VislabError(f"cannot read image {path}: {e}") from None
    if transform is not None:
        image = transform(image)
    if info.image_size is not None and tuple(image.shape[-2:]) != tuple(info.image_size):
        image = TF.resize(image, list(info.image_size), antialias=True)
    return image.as_subclass(torch.Tensor)


def write_predictions_csv(out: Path, rows: list[dict[str, Any]], k: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", *(f"{x}_{i}" for i in range(1, k + 1) for x in ("class", "prob"))])
        for row in rows:
            w.writerow([row["file"], *(v for n, p in zip(row["classes"], row["probabilities"]) for v in (n, f"{p:.6f}"))])


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
