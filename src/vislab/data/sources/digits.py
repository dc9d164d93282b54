"""scikit-learn's bundled handwritten digits: 1,797 real 8x8 images, no download. The embedded default."""

from __future__ import annotations

from pathlib import Path

from ...config import AugConfig, DataConfig
from ..bundle import DataBundle
from ..files.embedded import load_arrays

READS = ("limit", "val_fraction", "test_fraction", "split_seed", "channels", "in_memory")  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    """Train/val/test split of the digits, stratified and seeded by ``data.split_seed``."""
    from ..families.per_image import holdout_bundle

    images, targets = load_arrays()
    return holdout_bundle(cfg, aug, (images, targets), None, [str(i) for i in range(10)])


def status(root: Path) -> tuple[str, bool]:
    return "bundled with scikit-learn; nothing to download", True
