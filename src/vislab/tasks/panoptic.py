"""Panoptic-style multi-task segmentation (Panoptic-DeepLab): a semantic head, a center heatmap and pixel
offsets; instances grouped from them; miou of the semantic head and panoptic quality (Kirillov et al.).

Model outputs are ``{"out": logits [B,K,H,W], "center": [B,1,H,W], "offset": [B,2,H,W] (dy, dx)}``.
The center and offset targets are built from each batch's class and instance maps (data.panoptic), after
the joint augmentation, here rather than in the datasets: ``loss.center_sigma`` is the task's setting,
and a uint8 instance map crosses the worker boundary instead of three float maps.

A panoptic prediction is a pair of maps: classes [H,W] (``ignore_index`` where void) and instance ids
[H,W] (0 on stuff); a segment is the pixels sharing (class, instance).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import Metric

from ..config import Config
from ..data.bundle import DataBundle, DataInfo
from ..data.panoptic import panoptic_targets, thing_pixels
from ..errors import VislabError
from ..viz import save_png
from .classification import TorchMetrics
from .segmentation import (
    ConfusionMatrix, SegmentationMetrics, SegmentationTask, fmt_number, image_sizes, labels, metric_name, scores,
    write_tables,
)

NMS_KERNEL, CENTER_THRESHOLD, TOP_K = 7, 0.1, 200
MATCH_IOU = 0.5  # a predicted and a true segment of one class match above this IoU (unique matching, Kirillov et al.)


# ------------------------------------------------------------------------------------------------
# post-processing: centers, grouping, majority class
# ------------------------------------------------------------------------------------------------


def find_centers(heatmap: torch.Tensor, threshold: float = CENTER_THRESHOLD, kernel: int = NMS_KERNEL,
                 top_k: int = TOP_K) -> torch.Tensor:
    """Instance centers [N, 2] (y, x) from a heatmap [H, W]: local maxima in a ``kernel`` window above
    ``threshold``, at most ``top_k`` of them, highest first."""
    pooled = F.max_pool2d(heatmap[None, None], kernel, stride=1, padding=kernel // 2)[0, 0]
    peaks = (heatmap == pooled) & (heatmap > threshold)
    ys, xs = peaks.nonzero(as_tuple=True)
    order = heatmap[ys, xs].argsort(descending=True)[:top_k]
    return torch.stack([ys[order], xs[order]], 1)


def group_pixels(centers: torch.Tensor, offset: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Instance ids [H, W] (1..N; 0 outside ``where`` [H, W]): each pixel joins the center [N, 2] nearest
    to where its offset [2, H, W] points."""
    H, W = where.shape
    ids = torch.zeros(H, W, dtype=torch.long, device=where.device)
    if not len(centers) or not bool(where.any()):
        return ids
    ys, xs = where.nonzero(as_tuple=True)
    pointed = torch.stack([ys, xs], 1).float() + offset[:, ys, xs].T.float()  # [P, 2]
    ids[ys, xs] = torch.cdist(pointed, centers.float()).argmin(1) + 1
    return ids


def panoptic_maps(semantic: torch.Tensor, center: torch.Tensor, offset: torch.Tensor, things: torch.Tensor,
                  ignore_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(classes [H,W], instance ids [H,W]) from semantic class ids [H,W], a center heatmap [H,W] and offsets
    [2,H,W]: thing pixels are grouped around the centers, each instance taking the majority class of its
    pixels; thing pixels with no center at all are void."""
    thing = torch.isin(semantic, things.to(semantic.device))
    instance = group_pixels(find_centers(center), offset, thing)
    classes = torch.where(thing, ignore_index, semantic)
    if bool(thing.any()) and int(instance.max()) > 0:
        k = int(semantic.max()) + 1
        votes = torch.bincount(instance[thing] * k + semantic[thing], minlength=(int(instance.max()) + 1) * k)
        majority = votes.view(-1, k).argmax(1)  # [N + 1], by instance id
        classes = torch.where(thing, majority[instance], classes)
    return classes, instance


# ------------------------------------------------------------------------------------------------
# panoptic quality
# ------------------------------------------------------------------------------------------------


def pq_counts(pred_classes: torch.Tensor, pred_instances: torch.Tensor, true_classes: torch.Tensor,
              true_instances: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    """Per-class float64 [4, K]: true positives, false positives, false negatives and the summed IoU of the
    matches, for one image's panoptic maps [H, W] (predicted and true).

    As the COCO panoptic evaluation does: pixels void in the truth leave the union of a match, and a
    predicted segment lying more than half on void pixels is no false positive.
    """
    big = int(max(pred_instances.max(), true_instances.max())) + 1
    true = torch.where(true_classes != ignore_index, true_classes.long() * big + true_instances.long(), -1).flatten()
    pred = torch.where(pred_classes != ignore_index, pred_classes.long() * big + pred_instances.long(), -1).flatten()
    true_ids, ti = torch.unique(true, return_inverse=True)
    pred_ids, pi = torch.unique(pred, return_inverse=True)
    inter = torch.bincount(ti * len(pred_ids) + pi, minlength=len(true_ids) * len(pred_ids)).view(len(true_ids), -1).double()
    true_area, pred_area = inter.sum(1), inter.sum(0)
    t_ok, p_ok = true_ids >= 0, pred_ids >= 0
    on_void = inter[~t_ok].sum(0)[p_ok] if bool((~t_ok).any()) else torch.zeros(int(p_ok.sum()), dtype=torch.float64, device=inter.device)
    inter, true_area, pred_area = inter[t_ok][:, p_ok], true_area[t_ok], pred_area[p_ok]
    true_cls, pred_cls = true_ids[t_ok] // big, pred_ids[p_ok] // big
    iou = inter / (true_area[:, None] + pred_area[None, :] - inter - on_void[None, :]).clamp_min(1)
    match = (iou > MATCH_IOU) & (true_cls[:, None] == pred_cls[None, :])
    counts = lambda cls, weights=None: torch.bincount(cls, weights, minlength=num_classes)[:num_classes].double()  # noqa: E731
    tp = counts(true_cls[match.any(1)])
    fn = counts(true_cls[~match.any(1)])
    fp = counts(pred_cls[~match.any(0) & (on_void <= 0.5 * pred_area)])
    iou_sum = counts(true_cls[match.nonzero(as_tuple=True)[0]], iou[match])
    return torch.stack([tp, fp, fn, iou_sum])


def pq_scores(counts: torch.Tensor) -> dict[str, Any]:
    """From per-class counts [4, K] (pq_counts summed): per-class ``pq``, ``sq``, ``rq`` [K] (nan where a
    class has no segment, predicted or true) and their means over the other classes."""
    tp, fp, fn, iou_sum = counts.double()
    n = tp + 0.5 * fp + 0.5 * fn
    seen = n > 0
    pq = torch.where(seen, iou_sum / n.clamp_min(1e-12), torch.nan)
    sq = torch.where(seen, torch.where(tp > 0, iou_sum / tp.clamp_min(1), 0.0), torch.nan)
    rq = torch.where(seen, tp / n.clamp_min(1e-12), torch.nan)
    mean = lambda v: float(v.nanmean()) if bool(seen.any()) else math.nan  # noqa: E731
    return {"pq_class": pq, "sq_class": sq, "rq_class": rq, "pq": mean(pq), "sq": mean(sq), "rq": mean(rq)}


class PanopticQuality(Metric):
    """Panoptic-quality counts [4, K] accumulated over images, summed across processes."""

    full_state_update = False

    def __init__(self, num_classes: int, ignore_index: int) -> None:
        super().__init__()
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.add_state("counts", torch.zeros(4, num_classes, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred_classes: torch.Tensor, pred_instances: torch.Tensor, true_classes: torch.Tensor,
               true_instances: torch.Tensor) -> None:
        """One image's maps [H, W]."""
        self.counts += pq_counts(pred_classes, pred_instances, true_classes, true_instances, self.num_classes, self.ignore_index)

    def compute(self) -> torch.Tensor:
        return self.counts


class PanopticMetrics(TorchMetrics):
    """miou and pixel_acc of the semantic head, and pq, sq, rq; per class (iou_, pq_, sq_, rq_<class>) too."""

    def __init__(self, task: "PanopticTask") -> None:
        super().__init__({
            "confusion": ConfusionMatrix(task.num_classes, task.ignore_index),
            "panoptic": PanopticQuality(task.num_classes, task.ignore_index),
        })
        self.task = task

    def update(self, outputs: dict, batch: dict) -> None:
        if self.device != outputs["out"].device:
            self.device = outputs["out"].device
            self.collection.to(self.device)
        self.collection["confusion"].update(labels(outputs["out"]), batch["target"])
        for pred, truth in self.task.image_pairs(outputs, batch):
            self.collection["panoptic"].update(*pred, *truth)

    def compute(self) -> dict[str, float]:
        values = self.collection.compute()
        s, p = scores(values["confusion"]), pq_scores(values["panoptic"])
        out = {"miou": s["miou"], "pixel_acc": s["pixel_acc"], "pq": p["pq"], "sq": p["sq"], "rq": p["rq"], "mean_acc": s["mean_acc"]}
        for i, name in enumerate(self.task.class_names):
            n = metric_name(name)
            out.update({f"iou_{n}": float(s["iou"][i]), f"pq_{n}": float(p["pq_class"][i]),
                        f"sq_{n}": float(p["sq_class"][i]), f"rq_{n}": float(p["rq_class"][i])})
        return out


# ------------------------------------------------------------------------------------------------
# the task
# ------------------------------------------------------------------------------------------------


def panoptic_requested(cfg: Config) -> bool:
    """Whether a config asks for panoptic training: model.heads=panoptic, or a panoptic model."""
    return cfg.model.heads == "panoptic" or cfg.model.name == "panoptic_deeplab"


class PanopticTask(SegmentationTask):
    monitor = "pq"
    mode = "max"
    heads = ("out", "center", "offset")

    def __init__(self, cfg: Config, info: DataInfo) -> None:
        if info.task != "segmentation" or not info.thing_classes:
            raise VislabError(
                f"dataset {cfg.data.name} has no instance ids, which panoptic heads need to learn centers and offsets: "
                f"use shapes, voc (data.image_set=train, with its SegmentationObject PNGs) or pairs with "
                f"data.instance_dir=FOLDER, or set model.heads=semantic"
            )
        super().__init__(cfg, info)
        self.things = torch.tensor(info.thing_classes)
        self.sigma = cfg.loss.center_sigma

    def loss(self, outputs: dict, batch: dict) -> torch.Tensor:
        """Semantic cross-entropy (the auxiliary head's too) + center_weight x MSE of the heatmap (ignored
        pixels left out) + offset_weight x L1 of the offsets on thing pixels."""
        semantic = super().loss(outputs, batch)
        t = panoptic_targets(batch["target"], batch["instance"], self.things, self.sigma, self.ignore_index)
        center = ((outputs["center"].float() - t.center) ** 2 * t.center_weight).sum() / t.center_weight.sum().clamp_min(1)
        offset = ((outputs["offset"].float() - t.offset).abs() * t.offset_weight).sum() / t.offset_weight.sum().clamp_min(1)
        return semantic + self.loss_cfg.center_weight * center + self.loss_cfg.offset_weight * offset

    def metrics(self, train: bool = False) -> TorchMetrics:
        if train:  # grouping instances every training step would cost more than it tells
            return SegmentationMetrics(self.num_classes, self.ignore_index, self.class_names, per_class=False)
        return PanopticMetrics(self)

    def panoptic(self, outputs: dict, i: int, size: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Image ``i``'s predicted (classes, instance ids) [h, w] from batched outputs, cropped to ``size``."""
        h, w = size
        return panoptic_maps(labels(outputs["out"][i : i + 1, :, :h, :w])[0], outputs["center"][i, 0, :h, :w].float(),
                             outputs["offset"][i, :, :h, :w], self.things, self.ignore_index)

    def truth(self, batch: dict, i: int, size: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Image ``i``'s true (classes, instance ids) [h, w]: thing pixels without an instance id are void."""
        h, w = size
        target, instance = batch["target"][i, :h, :w], batch["instance"][i, :h, :w].long()
        thing_class = torch.isin(target, self.things.to(target.device))
        keep = ~thing_class | thing_pixels(target, instance, self.things)
        return torch.where(keep, target, self.ignore_index), torch.where(thing_class, instance, 0)

    def image_pairs(self, outputs: dict, batch: dict) -> Iterable[tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]]:
        """(predicted, true) panoptic maps of each image of a batch, at its own size."""
        for i, size in enumerate(image_sizes(batch)):
            yield self.panoptic(outputs, i, size), self.truth(batch, i, size)

    # -- artifacts ---------------------------------------------------------------------------------

    def finalize(self, artifacts_dir: Path, predictions: Iterable[tuple[Any, dict]], bundle: DataBundle,
                 gallery_size: int = 8) -> dict:
        """The semantic artifacts, and per_class_pq.csv and .md over the validation split."""
        counts = torch.zeros(4, self.num_classes, dtype=torch.float64)

        def counted() -> Iterable[tuple[Any, dict]]:
            for outputs, batch in predictions:
                for pred, truth in self.image_pairs(outputs, batch):
                    counts.add_(pq_counts(*pred, *truth, self.num_classes, self.ignore_index).cpu())
                yield outputs, batch

        extra = super().finalize(artifacts_dir, counted(), bundle, gallery_size)
        write_pq_tables(artifacts_dir, counts, self.class_names, self.things.tolist())
        return extra

    # -- prediction on files ----------------------------------------------------------------------

    def save_prediction(self, out: Path, stem: str, image: torch.Tensor, outputs: dict[str, torch.Tensor]) -> dict[str, Path]:
        """The semantic mask and overlay, and OUT/<stem>_panoptic.png: one colour per instance, stuff in its
        class colour, void black."""
        paths = super().save_prediction(out, stem, image, outputs)
        classes, instances = self.panoptic(outputs, 0, outputs["out"].shape[-2:])
        size = tuple(image.shape[-2:])
        if tuple(classes.shape) != size:
            both = torch.stack([classes, instances])[None].float()
            classes, instances = F.interpolate(both, size=size, mode="nearest")[0].long()
        paths["panoptic"] = out / f"{stem}_panoptic.png"
        save_png(paths["panoptic"], panoptic_colors(classes.cpu().numpy(), instances.cpu().numpy(), self.ignore_index))
        return paths


def panoptic_colors(classes: np.ndarray, instances: np.ndarray, ignore_index: int) -> np.ndarray:
    """uint8 [H,W,3]: each instance (classes and instance ids [H,W]) a distinct bright colour, stuff in its
    class's VOC colour, void black."""
    from ..viz import colorize

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
    s = pq_scores(counts)
    header = ["class", "kind", "pq", "sq", "rq", "tp", "fp", "fn"]
    rows = [[name, "thing" if i in things else "stuff", *(fmt_number(float(s[f"{k}_class"][i])) for k in ("pq", "sq", "rq")),
             *(int(counts[j, i]) for j in range(3))] for i, name in enumerate(class_names)]
    write_tables(out / "per_class_pq", header, rows, f"PQ {fmt_number(s['pq'])}, SQ {fmt_number(s['sq'])}, RQ {fmt_number(s['rq'])}")
