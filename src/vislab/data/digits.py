"""scikit-learn's bundled handwritten digits: 1,797 real 8x8 images, no download. The embedded default."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from ..config import AugConfig, DataConfig
from ..errors import VislabError
from .bundle import DataBundle


def load_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as uint8 images [1797, 1, 8, 8] (0..16 scaled to 0..255) and int64 labels, read from the file
    scikit-learn ships them in (what ``sklearn.datasets.load_digits`` reads). The file is found without importing
    scikit-learn: that import alone costs about a second, more than the rest of `vislab eval digits`' own work."""
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise VislabError("data.name=digits: the digits ship with scikit-learn; pip install scikit-learn")
    table = np.loadtxt(path, delimiter=",")  # 64 pixel values 0..16, then the label, per row
    images = np.round(table[:, :-1].reshape(-1, 8, 8) * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(table[:, -1].astype(np.int64))


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images [N,C,H,W], in [0, 1] units."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for chunk in images.split(4096):  # float copies of a chunk only: CIFAR-size sets stay small in memory
        x = chunk.double().div_(255).transpose(0, 1).reshape(images.shape[1], -1)
        total += x.sum(1)
        squares += x.square().sum(1)
    return stats_from_moments(total, squares, images.numel() // max(1, images.shape[1]))


def stats_from_moments(total: torch.Tensor, squares: torch.Tensor, count: int) -> tuple[list[float], list[float]]:
    """Mean and std per channel from the sums [C] and sums of squares [C] of ``count`` values each."""
    mean = total / max(count, 1)
    var = (squares / max(count, 1) - mean.square()).clamp_min(0)
    return mean.tolist(), var.sqrt().clamp_min(1e-6).tolist()


READS = ("limit", "val_fraction", "test_fraction", "split_seed", "channels", "in_memory")  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    """Train/val/test split of the digits, stratified and seeded by ``data.split_seed``."""
    from .classification import holdout_bundle

    images, targets = load_arrays()
    return holdout_bundle(cfg, aug, (images, targets), None, [str(i) for i in range(10)])


def status(root: Path) -> tuple[str, bool]:
    return "bundled with scikit-learn; nothing to download", True
