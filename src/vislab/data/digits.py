"""scikit-learn's bundled handwritten digits: 1,797 real 8x8 images, no download. The embedded default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import AugConfig, DataConfig
from .bundle import DataBundle, DataInfo
from .datasets import MemoryDataset
from .splits import limited, stratified_split


def load_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as uint8 images [1797, 1, 8, 8] (0..16 scaled to 0..255) and int64 labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.round(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(d.target.astype(np.int64))


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images [N,C,H,W], in [0, 1] units."""
    x = images.float().div(255).transpose(0, 1).reshape(images.shape[1], -1)
    return x.mean(1).tolist(), x.std(1).clamp_min(1e-6).tolist()


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    """Train/val/test split of the digits, stratified and seeded by ``data.split_seed``."""
    from . import augment_for_memory

    images, targets = load_arrays()
    parts = stratified_split(targets.tolist(), cfg.val_fraction, cfg.test_fraction, cfg.split_seed)
    train_idx, val_idx, test_idx = (limited(p, cfg.limit) for p in parts)
    full = MemoryDataset(images, targets)
    train = full.subset(train_idx)
    train.augment = augment_for_memory(aug, task="classification")
    mean, std = channel_stats(train.images)
    info = DataInfo(
        task="classification",
        num_classes=10,
        class_names=[str(i) for i in range(10)],
        channels=1,
        mean=mean,
        std=std,
        image_size=(8, 8),
    )
    return DataBundle(
        train=train,
        val=full.subset(val_idx),
        test=full.subset(test_idx) if len(test_idx) else None,
        info=info,
    )


def status(root: Path) -> tuple[str, bool]:
    return "bundled with scikit-learn; nothing to download", True
