"""Synthetic scenes, generated from a seed: circles, rectangles and triangles in random colours, at varied
scales and rotations, overlapping, on textured, noisy backgrounds. The embedded default for segmentation.

Each scene keeps its instance ids (0 = background, 1.. in painting order; a later shape hides an earlier
one), for panoptic work. Scene ``i`` of a split depends only on (data.split_seed, split, i).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...config import AugConfig, DataConfig
from ..augment.per_batch import augment_for_memory, memory_unsupported
from ..augment.per_sample import build_transform, size_hw
from ..augment.plan import runs_in_memory
from ..bundle import DataBundle, DataInfo
from ..datasets import MemoryDataset
from ..families.per_pixel import TensorSamples, augmented_train
from ..files.stats import channel_stats
from ..loading.seeding import mix_seed

CLASSES = ["background", "circle", "rectangle", "triangle"]
DEFAULT_SIZE = 64
DEFAULT_SAMPLES = 2000
_SPLITS = {"train": 0, "val": 1, "test": 2}


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """float [3, H, W] in [-1, 1], varying over about ``cells`` blobs per side."""
    coarse = torch.from_numpy(rng.uniform(-1, 1, (1, 3, cells + 1, cells + 1)).astype(np.float32))
    return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True)[0].numpy()


def _texture(rng: np.random.Generator, h: int, w: int, color: np.ndarray, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """float [3, H, W]: ``color`` with smooth blotches and stripes of random frequency and direction."""
    angle, period = rng.uniform(0, math.pi), rng.uniform(4, 16)
    stripes = np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period + rng.uniform(0, 2 * math.pi))
    return (color[:, None, None] + rng.uniform(8, 25) * _smooth_noise(rng, h, w, int(rng.integers(2, 6)))
            + rng.uniform(0, 15) * stripes[None])


def _shape_mask(kind: int, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, scale: float) -> np.ndarray:
    """bool [H, W] of one shape of class ``kind`` (1 circle, 2 rectangle, 3 triangle) with circumradius ``scale``."""
    h, w = yy.shape
    cy, cx = rng.uniform(0.5 * scale, h - 0.5 * scale), rng.uniform(0.5 * scale, w - 0.5 * scale)
    theta = rng.uniform(0, 2 * math.pi)
    dy, dx = yy - cy, xx - cx
    if kind == 1:
        return dy**2 + dx**2 <= scale**2
    if kind == 2:
        u, v = dx * math.cos(theta) + dy * math.sin(theta), -dx * math.sin(theta) + dy * math.cos(theta)
        half_long = scale * rng.uniform(0.7, 0.95)
        return (np.abs(u) <= half_long) & (np.abs(v) <= half_long * rng.uniform(0.45, 1.0))
    corners = [theta + k * 2 * math.pi / 3 + rng.uniform(-0.3, 0.3) for k in range(3)]
    pts = [(cx + scale * math.cos(a), cy + scale * math.sin(a)) for a in corners]
    sides = [(xx - x0) * (y1 - y0) - (yy - y0) * (x1 - x0) for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1])]
    return ((sides[0] >= 0) & (sides[1] >= 0) & (sides[2] >= 0)) | ((sides[0] <= 0) & (sides[1] <= 0) & (sides[2] <= 0))


def render(seed: int, size: tuple[int, int], max_shapes: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene: image uint8 [3, H, W], classes uint8 [H, W], instance ids uint8 [H, W]."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    background = rng.uniform(40, 215, 3)
    image = _texture(rng, h, w, background, yy, xx)
    classes = np.zeros((h, w), np.uint8)
    instances = np.zeros((h, w), np.uint8)
    for instance in range(1, int(rng.integers(1, max_shapes + 1)) + 1):
        kind = int(rng.integers(1, len(CLASSES)))
        mask = _shape_mask(kind, rng, yy, xx, rng.uniform(0.12, 0.28) * min(h, w))
        color = rng.uniform(0, 255, 3)
        while np.linalg.norm(color - background) < 90:  # keep shapes visible against the background
            color = rng.uniform(0, 255, 3)
        image = np.where(mask[None], _texture(rng, h, w, color, yy, xx), image)
        classes[mask], instances[mask] = kind, instance
    image = image + rng.normal(0, rng.uniform(3, 10), image.shape)
    return np.clip(image, 0, 255).round().astype(np.uint8), classes, instances


def generate(seed: int, split: str, count: int, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` scenes of a split: images uint8 [N,3,H,W], classes int64 [N,H,W], instance ids uint8 [N,H,W]."""
    scenes = [render(mix_seed(seed, _SPLITS[split], i), size) for i in range(count)]
    images, classes, instances = (torch.from_numpy(np.stack(parts)) for parts in zip(*scenes))
    return images, classes.long(), instances


READS = ("image_size", "num_samples", "ignore_index", "repeat", "in_memory", "limit", "val_fraction", "test_fraction", "split_seed")  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    """``data.num_samples`` training scenes (default 2000) of ``data.image_size`` (default 64x64), and
    val/test scenes in proportion (``data.val_fraction``, ``test_fraction`` of the training count).

    Held in memory (``data.in_memory=auto``) unless an augmentation runs per sample only
    (``augment_plan.runs_in_memory``), else transformed per sample like files are.
    """
    size = tuple(size_hw(cfg.image_size or DEFAULT_SIZE))
    n_train = cfg.num_samples or DEFAULT_SAMPLES
    counts = {"train": n_train, "val": max(1, round(n_train * cfg.val_fraction)), "test": round(n_train * cfg.test_fraction)}
    counts = {k: min(n, cfg.limit) if cfg.limit else n for k, n in counts.items()}
    parts = {k: generate(cfg.split_seed, k, n, size) for k, n in counts.items() if n}
    mean, std = channel_stats(parts["train"][0])
    info = DataInfo(
        task="segmentation", num_classes=len(CLASSES), class_names=list(CLASSES), channels=3, mean=mean, std=std,
        ignore_index=cfg.ignore_index, image_size=size, thing_classes=[1, 2, 3],
    )
    if runs_in_memory(cfg.in_memory, memory_unsupported(aug, cfg.repeat), fits=True):
        splits = {
            k: MemoryDataset(im, t, {"instance": ins}, augment_for_memory(aug, "segmentation", train=k == "train",
                                                                          ignore_index=cfg.ignore_index))
            for k, (im, t, ins) in parts.items()
        }
    else:
        eval_transform = build_transform(aug, train=False, ignore_index=cfg.ignore_index)
        splits = {
            k: TensorSamples(im, t, {"instance": ins}, eval_transform, cfg.ignore_index) for k, (im, t, ins) in parts.items()
        }
        splits["train"] = augmented_train(splits["train"], cfg, aug)
    return DataBundle(train=splits["train"], val=splits["val"], test=splits.get("test"), info=info)


def status(root: Path) -> tuple[str, bool]:
    return "generated from a seed; nothing to download", True
