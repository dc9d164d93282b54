"""Semantic segmentation: per-pixel losses by name (``loss.terms``; cross-entropy by default, ignore index,
optional hard-pixel mining, auxiliary head), metrics from one confusion matrix, evaluation on whole images or
sliding windows with optional test-time augmentation, IoU artifacts, predictions.

Model outputs are a logits tensor [B, K, H, W] or torchvision's ``{"out": ..., "aux": ...}``; the task
works on ``{"out": logits[, "aux": logits]}``.
"""

from __future__ import annotations

import heapq
import math
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...cam import beside, gallery_maps, gallery_method
from ...config import Config
from ...config.schema import LossTermConfig, TTAConfig
from ...data.bundle import DataBundle, DataInfo
from ...data.augment.per_sample import size_hw
from ...errors import VislabError
from ...losses import build_loss, check_terms
from ...models.contract import contract_of
from ...tta import describe, segmentation_tta
from ...viz import class_legend, colorize, overlay, save_grid, save_mask_png, save_png, to_display
from ..base import Task, refuse_unused
from .artifacts import write_iou_tables
from .metrics import TRAIN_PIXEL_STRIDE, SegmentationMetrics, confusion, image_sizes, labels, scores
from .predict import resized


def as_outputs(raw: Any) -> dict[str, torch.Tensor]:
    """A model's output as ``{"out": logits[, "aux": logits]}``."""
    return dict(raw) if isinstance(raw, dict) else {"out": raw}


def pad_to_multiple(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Pad [B, C, H, W] at the bottom and right so H and W are multiples of ``stride``."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % stride, 0, -h % stride))


def window_starts(length: int, window: int, step: int) -> list[int]:
    """Window origins covering ``length``, the last one flush with the end."""
    return sorted(set(list(range(0, max(1, length - window), step)) + [max(0, length - window)]))


class SegmentationTask(Task):
    name = "segmentation"
    per_pixel = True
    monitor = "miou"
    mode = "max"
    reads = {"loss": ("label_smoothing", "class_weights", "aux_weight", "topk", "terms", "distill"),
             "eval": ("sliding_window", "window_overlap", "tta", "explain")}
    heads: tuple[str, ...] = ("out",)  # the model outputs evaluation keeps (the auxiliary head is for training)

    def __init__(self, cfg: Config, info: DataInfo) -> None:
        self.num_classes = cfg.model.num_classes or info.num_classes
        names = info.class_names if len(info.class_names) == self.num_classes else [str(i) for i in range(self.num_classes)]
        self.class_names = list(names)
        self.ignore_index = info.ignore_index
        self.channels = info.channels
        self.loss_cfg = cfg.loss
        self.pixel_loss = pixel_loss(cfg, self.num_classes, self.ignore_index)
        self.tta = check_tta(cfg)
        self.window = size_hw(cfg.eval.sliding_window) if cfg.eval.sliding_window is not None else None
        self.overlap = cfg.eval.window_overlap
        self.resize = size_hw(cfg.aug.resize) if cfg.aug.resize is not None else None
        self.mean = info.mean if cfg.aug.normalize else None
        self.std = info.std if cfg.aug.normalize else None
        self.explain = gallery_method(cfg.eval.explain)

    # -- training ---------------------------------------------------------------------------------

    def forward(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        return as_outputs(model(batch["image"]))

    def loss(self, outputs: dict, batch: dict) -> torch.Tensor:
        """Main head, plus ``loss.aux_weight`` times the auxiliary head's loss when there is one."""
        loss = self.pixel_loss(outputs["out"], batch["target"])
        if "aux" in outputs and self.loss_cfg.aux_weight:
            loss = loss + self.loss_cfg.aux_weight * self.pixel_loss(outputs["aux"], batch["target"])
        return loss

    def sample_records(self, outputs: Any, batch: dict) -> dict[str, torch.Tensor]:
        """Each image's per-class intersection and union [B, K] (pixels of ignore_index left out)."""
        pred = labels(outputs["out"])
        matrices = torch.stack([confusion(p, t, self.num_classes, self.ignore_index) for p, t in zip(pred, batch["target"])])
        inter = matrices.diagonal(dim1=1, dim2=2)
        return {"index": batch["index"], "intersection": inter, "union": matrices.sum(1) + matrices.sum(2) - inter}

    def pixel_logits(self, outputs: dict) -> torch.Tensor:
        """The main head's logits [B, K, H, W] (panoptic's center and offset heads beside them are left out)."""
        return outputs["out"]

    def metrics(self, train: bool = False) -> SegmentationMetrics:
        return SegmentationMetrics(self.num_classes, self.ignore_index, self.class_names, per_class=not train,
                                   pixel_stride=TRAIN_PIXEL_STRIDE if train else 1)

    # -- evaluation -------------------------------------------------------------------------------

    def infer(self, model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ``heads`` maps [B, *, H, W] for images [B, C, H, W] (infer_views), averaged over the flips and
        scales of ``eval.tta`` when it asks for more than the image itself."""
        flip, scales = self.tta.flip, self.tta.scales
        if not flip and list(scales) == [1.0]:
            return self.infer_views(model, x)
        return segmentation_tta(lambda view: self.infer_views(model, view), x, flip, scales)

    def infer_views(self, model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ``heads`` maps [B, *, H, W] for images [B, C, H, W]: whole images padded to the model's stride
        and cropped back, or ``eval.sliding_window`` windows averaged where they overlap."""
        if self.window is None:
            return self._whole(model, x)
        h, w = x.shape[-2:]
        wh, ww = self.window
        x = F.pad(x, (0, max(0, ww - w), 0, max(0, wh - h)))
        H, W = x.shape[-2:]
        steps = [max(1, int(s * (1 - self.overlap))) for s in (wh, ww)]
        total: dict[str, torch.Tensor] = {}
        count = x.new_zeros(1, 1, H, W)
        for top in window_starts(H, wh, steps[0]):
            for left in window_starts(W, ww, steps[1]):
                for key, part in self._whole(model, x[..., top : top + wh, left : left + ww]).items():
                    if key not in total:
                        total[key] = x.new_zeros(x.shape[0], part.shape[1], H, W, dtype=torch.float32)
                    total[key][..., top : top + wh, left : left + ww] += part.float()
                count[..., top : top + wh, left : left + ww] += 1
        return {key: (t / count)[..., :h, :w] for key, t in total.items()}

    def _whole(self, model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h, w = x.shape[-2:]
        outputs = as_outputs(model(pad_to_multiple(x, contract_of(model).output_stride)))
        return {key: outputs[key][..., :h, :w] for key in self.heads}

    def predict(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        """The ``heads`` maps for an evaluation batch, each image inferred at its own size when sizes differ."""
        x, sizes = batch["image"], batch.get("size")
        if sizes is None or bool((sizes == sizes[0]).all()):
            return self.infer(model, x)
        parts = [self.infer(model, x[i : i + 1, :, :h, :w]) for i, (h, w) in enumerate(sizes.tolist())]
        out = {key: part.new_zeros(x.shape[0], part.shape[1], *x.shape[-2:]) for key, part in parts[0].items()}
        for i, part in enumerate(parts):
            for key, value in part.items():
                out[key][i, :, : value.shape[-2], : value.shape[-1]] = value[0]
        return out

    # -- artifacts ---------------------------------------------------------------------------------

    def finalize(self, artifacts_dir: Path, predictions: Iterable[tuple[Any, dict]], bundle: DataBundle,
                 model: nn.Module, gallery_size: int = 8) -> dict:
        """per_class_iou.csv and .md over the validation split, and worst_val.png: the validation images
        with the lowest IoU (image | truth | prediction [| with ``eval.explain``, the class-activation map of
        the class predicted over most pixels])."""
        k = self.num_classes
        matrix = torch.zeros(k, k, dtype=torch.long)
        worst: list[tuple] = []  # a max-heap on IoU, by negation: (-IoU, index, truth, prediction, model input)
        for outputs, batch in predictions:
            preds, targets = labels(outputs["out"]).cpu(), batch["target"].cpu()
            for i, (h, w) in enumerate(image_sizes(batch)):
                pred, target = preds[i, :h, :w], targets[i, :h, :w]
                own = confusion(pred, target, k, self.ignore_index)
                matrix += own
                shown = batch["image"][i, :, :h, :w].float().cpu().clone() if self.explain else None
                item = (-scores(own)["miou"], int(batch["index"][i]), target.numpy().astype(np.uint8), pred.numpy().astype(np.uint8), shown)
                if not math.isnan(item[0]):
                    heapq.heappush(worst, item) if len(worst) < gallery_size else heapq.heappushpop(worst, item)
        write_iou_tables(artifacts_dir, scores(matrix), matrix, self.class_names)
        if worst:
            worst.sort(key=lambda t: -t[0])
            images, titles = [], []
            for neg_iou, index, target, pred, x in worst:
                images += [to_display(bundle.val[index]["image"]), colorize(target), colorize(pred)]
                titles += [f"#{index} IoU {-neg_iou:.2f}", "truth", "prediction"]
                if self.explain:
                    cam, explained = self.gallery_map(model, x)
                    images.append(beside(images[-3], cam))
                    titles.append(f"{self.explain} of {self.class_names[explained]}")
            save_grid(artifacts_dir / "worst_val.png", images, titles, ncols=4 if self.explain else 3, cell=2.4,
                      legend=class_legend(self.class_names, self.ignore_index))
        return {}

    def gallery_map(self, model: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, int]:
        """The ``eval.explain`` map [H, W] of one model input [C, H, W] (padded to the model's stride, as
        evaluation pads it, and cropped back) and the class it explains."""
        h, w = x.shape[-2:]
        padded = pad_to_multiple(x[None], contract_of(model).output_stride).to(next(model.parameters()).device)
        maps, classes = gallery_maps(model, self.class_names, True, self.explain, padded)
        return maps[0, :h, :w], classes[0]

    def eval_settings(self) -> dict:
        return {"tta": describe(self.tta.flip, self.tta.scales)}

    # -- prediction on files (predictor.MaskPredictor) ---------------------------------------------

    def save_prediction(self, out: Path, stem: str, image: torch.Tensor, outputs: dict[str, torch.Tensor]) -> dict[str, Path]:
        """OUT/<stem>_mask.png (a palette PNG of class ids, in the class palette) and OUT/<stem>_overlay.png (the
        image with the classes blended in) for one image uint8 [C,H,W] and the model's maps [1, *, h, w]."""
        pred = labels(resized(outputs["out"].float(), tuple(image.shape[-2:])))[0].cpu().numpy().astype(np.uint8)
        paths = {"mask": out / f"{stem}_mask.png", "overlay": out / f"{stem}_overlay.png"}
        save_mask_png(paths["mask"], pred)
        save_png(paths["overlay"], overlay(to_display(image), pred))
        return paths


def pixel_loss(cfg: Config, num_classes: int, ignore_index: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """loss(logits [B, K, H, W], target [B, H, W]) from ``loss.terms`` (cross-entropy when unset); the
    cross-entropy keys (label_smoothing, class_weights, topk) are bad input when no term reads them."""
    terms = cfg.loss.terms if cfg.loss.terms is not None else [LossTermConfig(name="ce")]
    if not terms:
        raise VislabError("loss.terms is empty; name at least one loss, e.g. loss.terms=[{name: ce}]")
    check_terms(terms, num_classes)
    if not any(t.name == "ce" and not t.binary for t in terms):
        refuse_unused(cfg, ("loss.label_smoothing", "loss.class_weights", "loss.topk"), "loss.terms without a multi-class ce term")
    weight = torch.tensor(cfg.loss.class_weights) if cfg.loss.class_weights else None
    return build_loss(terms, ignore_index, weight, cfg.loss.label_smoothing, cfg.loss.topk)


def check_tta(cfg: Config) -> TTAConfig:
    """``eval.tta``, its scales checked."""
    scales = cfg.eval.tta.scales
    if not scales or any(not s > 0 for s in scales):
        raise VislabError(f"eval.tta.scales must be positive numbers, e.g. [0.75, 1.0, 1.25]; got {scales}")
    return cfg.eval.tta
