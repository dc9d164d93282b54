"""Panoptic-style multi-task segmentation (Panoptic-DeepLab): a semantic head, a center heatmap and pixel
offsets; instances grouped from them; miou of the semantic head and panoptic quality (Kirillov et al.).

Model outputs are ``{"out": logits [B,K,H,W], "center": [B,1,H,W], "offset": [B,2,H,W] (dy, dx)}``.
The center and offset targets are built from each batch's class and instance maps (data.families.panoptic_targets), after
the joint augmentation, here rather than in the datasets: ``loss.center_sigma`` is the task's setting,
and a uint8 instance map crosses the worker boundary instead of three float maps.

A panoptic prediction is a pair of maps: classes [H,W] (``ignore_index`` where void) and instance ids
[H,W] (0 on stuff); a segment is the pixels sharing (class, instance).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
import torch.nn.functional as F

from ...config import Config
from ...config.schema import PanopticEvalConfig
from ...data.bundle import DataBundle, DataInfo
from ...data.families.panoptic_targets import panoptic_targets, thing_pixels
from ...errors import VislabError
from ...viz import save_png
from ..metrics import MetricSet
from ..segmentation import SegmentationTask, image_sizes, labels
from .artifacts import panoptic_colors, write_pq_tables
from .coco import PanopticExport
from .metrics import PanopticMetrics, pq_counts
from .predict import panoptic_maps


class PanopticTask(SegmentationTask):
    name = "panoptic"
    monitor = "pq"
    mode = "max"
    reads = {"loss": (*SegmentationTask.reads["loss"], "center_weight", "offset_weight", "center_sigma"),
             "eval": (*SegmentationTask.reads["eval"], "panoptic")}
    heads = ("out", "center", "offset")
    panoptic = True

    def __init__(self, cfg: Config, info: DataInfo) -> None:
        if not info.thing_classes:  # only per-pixel data with instance ids names thing classes
            raise VislabError(
                f"dataset {cfg.data.name} has no instance ids, which panoptic heads need to learn centers and offsets: "
                f"use shapes, voc (data.image_set=train, with its SegmentationObject PNGs) or pairs with "
                f"data.instance_dir=FOLDER, or set model.heads=semantic"
            )
        super().__init__(cfg, info)
        self.things = torch.tensor(info.thing_classes)
        self.sigma = cfg.loss.center_sigma
        self.post = check_post_processing(cfg.eval.panoptic)

    def loss(self, outputs: dict, batch: dict) -> torch.Tensor:
        """Semantic cross-entropy (the auxiliary head's too) + center_weight x MSE of the heatmap (ignored
        pixels left out) + offset_weight x L1 of the offsets on thing pixels."""
        semantic = super().loss(outputs, batch)
        t = panoptic_targets(batch["target"], batch["instance"], self.things, self.sigma, self.ignore_index)
        center = ((outputs["center"].float() - t.center) ** 2 * t.center_weight).sum() / t.center_weight.sum().clamp_min(1)
        offset = ((outputs["offset"].float() - t.offset).abs() * t.offset_weight).sum() / t.offset_weight.sum().clamp_min(1)
        return semantic + self.loss_cfg.center_weight * center + self.loss_cfg.offset_weight * offset

    def metrics(self, train: bool = False) -> MetricSet:
        if train:  # grouping instances every training step would cost more than it tells
            return super().metrics(train=True)
        return PanopticMetrics(self)

    def sample_records(self, outputs: Any, batch: dict) -> dict[str, torch.Tensor]:
        """Segmentation's rows and each image's per-class PQ tallies [B, K]: matched (pq_tp), unmatched predicted
        (pq_fp) and true (pq_fn) segments, and the IoU summed over the matches (pq_iou)."""
        counts = torch.stack([pq_counts(*pred, *truth, self.num_classes, self.ignore_index)
                              for pred, truth in self.image_pairs(outputs, batch)])
        tallies = {f"pq_{k}": counts[:, i].int() for i, k in enumerate(("tp", "fp", "fn"))}
        return {**super().sample_records(outputs, batch), **tallies, "pq_iou": counts[:, 3].float()}

    def segments(self, outputs: dict, i: int, size: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Image ``i``'s predicted (classes, instance ids) [h, w] from batched outputs, cropped to ``size``."""
        h, w = size
        return panoptic_maps(labels(outputs["out"][i : i + 1, :, :h, :w])[0], outputs["center"][i, 0, :h, :w].float(),
                             outputs["offset"][i, :, :h, :w], self.things, self.ignore_index, self.post)

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
            yield self.segments(outputs, i, size), self.truth(batch, i, size)

    # -- artifacts ---------------------------------------------------------------------------------

    def finalize(self, artifacts_dir: Path, predictions: Iterable[tuple[Any, dict]], bundle: DataBundle,
                 model: torch.nn.Module, gallery_size: int = 8) -> dict:
        """The semantic artifacts, and per_class_pq.csv and .md over the validation split."""
        counts = torch.zeros(4, self.num_classes, dtype=torch.float64)

        def counted() -> Iterable[tuple[Any, dict]]:
            for outputs, batch in predictions:
                for pred, truth in self.image_pairs(outputs, batch):
                    counts.add_(pq_counts(*pred, *truth, self.num_classes, self.ignore_index).cpu())
                yield outputs, batch

        extra = super().finalize(artifacts_dir, counted(), bundle, model, gallery_size)
        write_pq_tables(artifacts_dir, counts, self.class_names, self.things.tolist())
        return extra

    def eval_settings(self) -> dict:
        return {**super().eval_settings(), "panoptic": dataclasses.asdict(self.post)}

    def export_panoptic(self, out: Path, predictions: Iterable[tuple[Any, dict]]) -> list[Path]:
        """OUT/predictions.json with OUT/predictions/ and OUT/ground_truth.json with OUT/ground_truth/, the COCO
        panoptic format (coco.PanopticExport) that panopticapi's pq_compute reads; images by sample index."""
        sides = [PanopticExport(out, name, self.class_names, self.things.tolist(), self.ignore_index)
                 for name in ("predictions", "ground_truth")]
        for outputs, batch in predictions:
            for index, maps in zip(batch["index"].tolist(), self.image_pairs(outputs, batch)):
                for side, (classes, instances) in zip(sides, maps):
                    side.add(int(index), classes.cpu().numpy(), instances.cpu().numpy())
        return [side.close() for side in sides]

    # -- prediction on files ----------------------------------------------------------------------

    def save_prediction(self, out: Path, stem: str, image: torch.Tensor, outputs: dict[str, torch.Tensor]) -> dict[str, Path]:
        """The semantic mask and overlay, and OUT/<stem>_panoptic.png: one colour per instance, stuff in its
        class colour, void black."""
        paths = super().save_prediction(out, stem, image, outputs)
        classes, instances = self.segments(outputs, 0, outputs["out"].shape[-2:])
        size = tuple(image.shape[-2:])
        if tuple(classes.shape) != size:
            both = torch.stack([classes, instances])[None].float()
            classes, instances = F.interpolate(both, size=size, mode="nearest")[0].long()
        paths["panoptic"] = out / f"{stem}_panoptic.png"
        save_png(paths["panoptic"], panoptic_colors(classes.cpu().numpy(), instances.cpu().numpy(), self.ignore_index))
        return paths


def check_post_processing(post: PanopticEvalConfig) -> PanopticEvalConfig:
    """``eval.panoptic``, its ranges checked."""
    if post.nms_kernel < 1 or post.nms_kernel % 2 == 0:
        raise VislabError(f"eval.panoptic.nms_kernel must be an odd number of pixels (3, 7, 11...), not {post.nms_kernel}")
    if post.top_k < 1:
        raise VislabError(f"eval.panoptic.top_k must be at least 1, not {post.top_k}")
    if not 0 <= post.threshold < 1:
        raise VislabError(f"eval.panoptic.threshold must be in [0, 1), the heatmap's range; got {post.threshold}")
    if post.stuff_area < 0:
        raise VislabError(f"eval.panoptic.stuff_area must not be negative, got {post.stuff_area}")
    return post
