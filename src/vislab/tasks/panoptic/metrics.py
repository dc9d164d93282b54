"""Panoptic quality (PQ = SQ x RQ, Kirillov et al.) per class, beside the semantic head's mIoU."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

import torch

from ...metric import Metric
from ..metrics import MetricSet
from ..segmentation import ConfusionMatrix, labels, metric_name, scores

if TYPE_CHECKING:
    from .task import PanopticTask


MATCH_IOU = 0.5  # a predicted and a true segment of one class match above this IoU (unique matching, Kirillov et al.)
SPLIT_SHARE = 0.1  # a predicted instance is a piece of a true one when it holds at least this share of its pixels


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


def pq_scores(counts: torch.Tensor, things: Sequence[int] = ()) -> dict[str, Any]:
    """From per-class counts [4, K] (pq_counts summed): per-class ``pq``, ``sq``, ``rq`` [K] (nan where a
    class has no segment, predicted or true) and their means over the other classes; with the ``things``
    (class ids) also those means over the thing classes (``pq_things``...) and over the rest (``pq_stuff``...),
    as panopticapi reports them."""
    tp, fp, fn, iou_sum = counts.double()
    n = tp + 0.5 * fp + 0.5 * fn
    seen = n > 0
    pq = torch.where(seen, iou_sum / n.clamp_min(1e-12), torch.nan)
    sq = torch.where(seen, torch.where(tp > 0, iou_sum / tp.clamp_min(1), 0.0), torch.nan)
    rq = torch.where(seen, tp / n.clamp_min(1e-12), torch.nan)
    out: dict[str, Any] = {"pq_class": pq, "sq_class": sq, "rq_class": rq}
    is_thing = torch.zeros(len(tp), dtype=torch.bool)
    is_thing[list(things)] = True
    groups = {"": torch.ones_like(is_thing), **({"_things": is_thing, "_stuff": ~is_thing} if len(things) else {})}
    for suffix, members in groups.items():
        for name, values in (("pq", pq), ("sq", sq), ("rq", rq)):
            chosen = values[members.to(values.device)]
            out[name + suffix] = float(chosen.nanmean()) if bool((~chosen.isnan()).any()) else math.nan
    return out


def split_counts(pred_classes: torch.Tensor, pred_instances: torch.Tensor, true_classes: torch.Tensor,
                 true_instances: torch.Tensor, things: torch.Tensor) -> torch.Tensor:
    """float64 [2]: of the true thing instances of one image's maps [H, W], those the prediction split (two or
    more predicted instances of their class each holding at least SPLIT_SHARE of their pixels), and all."""
    thing = torch.isin(true_classes, things.to(true_classes.device)) & (true_instances > 0)
    if not bool(thing.any()):
        return torch.zeros(2, dtype=torch.float64, device=true_classes.device)
    big = int(max(pred_instances.max(), true_instances.max())) + 1
    true_ids, ti = torch.unique(true_classes[thing].long() * big + true_instances[thing].long(), return_inverse=True)
    area = torch.bincount(ti).double()
    same = (pred_classes[thing] == true_classes[thing]) & (pred_instances[thing] > 0)
    pairs, overlap = torch.unique(ti[same] * big + pred_instances[thing][same].long(), return_counts=True)
    pieces = torch.bincount(pairs[overlap >= SPLIT_SHARE * area[pairs // big]] // big, minlength=len(true_ids))
    return torch.tensor([float((pieces >= 2).sum()), float(len(true_ids))], dtype=torch.float64, device=true_classes.device)


class SplitThings(Metric):
    """split_counts [2] accumulated over images, summed across processes."""

    def __init__(self, things: torch.Tensor) -> None:
        super().__init__()
        self.things = things
        self.add_state("counts", torch.zeros(2, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred_classes: torch.Tensor, pred_instances: torch.Tensor, true_classes: torch.Tensor,
               true_instances: torch.Tensor) -> None:
        self.counts += split_counts(pred_classes, pred_instances, true_classes, true_instances, self.things)

    def value(self) -> torch.Tensor:
        return self.counts


class PanopticQuality(Metric):
    """Panoptic-quality counts [4, K] accumulated over images, summed across processes."""

    def __init__(self, num_classes: int, ignore_index: int) -> None:
        super().__init__()
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.add_state("counts", torch.zeros(4, num_classes, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred_classes: torch.Tensor, pred_instances: torch.Tensor, true_classes: torch.Tensor,
               true_instances: torch.Tensor) -> None:
        """One image's maps [H, W]."""
        self.counts += pq_counts(pred_classes, pred_instances, true_classes, true_instances, self.num_classes, self.ignore_index)

    def value(self) -> torch.Tensor:
        return self.counts


class PanopticMetrics(MetricSet):
    """miou and pixel_acc of the semantic head, and pq, sq, rq, over all classes, over the thing classes
    (pq_things...) and over the stuff classes (pq_stuff...), per class (iou_, pq_, sq_, rq_<class>) too;
    ``things_split``: the share of true thing instances split into several predicted ones (split_counts)."""

    def __init__(self, task: "PanopticTask") -> None:
        super().__init__({
            "confusion": ConfusionMatrix(task.num_classes, task.ignore_index),
            "panoptic": PanopticQuality(task.num_classes, task.ignore_index),
            "split": SplitThings(task.things),
        })
        self.task = task

    def update(self, outputs: dict, batch: dict) -> None:
        self.follow(outputs["out"].device)
        self.metrics["confusion"].update(labels(outputs["out"]), batch["target"])
        for pred, truth in self.task.image_pairs(outputs, batch):
            self.metrics["panoptic"].update(*pred, *truth)
            self.metrics["split"].update(*pred, *truth)

    def summarize(self, values: dict[str, torch.Tensor]) -> dict[str, float]:
        s, p = scores(values["confusion"]), pq_scores(values["panoptic"], self.task.things.tolist())
        split, total = values["split"].tolist()
        out = {"miou": s["miou"], "pixel_acc": s["pixel_acc"], "pq": p["pq"], "sq": p["sq"], "rq": p["rq"], "mean_acc": s["mean_acc"],
               **{f"{k}_{kind}": p[f"{k}_{kind}"] for kind in ("things", "stuff") for k in ("pq", "sq", "rq")},
               "things_split": split / total if total else math.nan}
        for i, name in enumerate(self.task.class_names):
            n = metric_name(name)
            out.update({f"iou_{n}": float(s["iou"][i]), f"pq_{n}": float(p["pq_class"][i]),
                        f"sq_{n}": float(p["sq_class"][i]), f"rq_{n}": float(p["rq_class"][i])})
        return out
