"""Datasets by name: ``build(cfg.data, cfg.aug) -> DataBundle``; ``status`` says what each needs on disk."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..config import AugConfig, DataConfig
from ..errors import VislabError
from . import cifar100, digits, digits_dg, folder, mnist, officehome, pairs, shapes, voc
from .batch_augment import augment_for_memory
from .bundle import DataBundle, DataInfo
from .datasets import MemoryDataset, SampleDataset
from .labeled import bootstrapped, split_labeled
from .loading import Loader
from .splits import data_root


@dataclass(frozen=True)
class DatasetSpec:
    """How to build a dataset, and how to tell whether its files are on disk under a root."""

    build: Callable[[DataConfig, AugConfig], DataBundle]
    status: Callable[[Path], tuple[str, Optional[bool]]]  # None: the user names the folder (data.root)


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(digits.build, digits.status),
    "mnist": DatasetSpec(mnist.build, mnist.status),
    "cifar100": DatasetSpec(cifar100.build, cifar100.status),
    "folder": DatasetSpec(folder.build, folder.status),
    "officehome": DatasetSpec(officehome.build, officehome.status),
    "digits-dg": DatasetSpec(digits_dg.build, digits_dg.status),
    "pairs": DatasetSpec(pairs.build, pairs.status),
    "shapes": DatasetSpec(shapes.build, shapes.status),
    "voc": DatasetSpec(voc.build, voc.status),
}


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    """The named dataset's splits and info; unknown names list the close matches."""
    spec = DATASETS.get(cfg.name)
    if spec is None:
        close = difflib.get_close_matches(cfg.name, DATASETS, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise VislabError(f"unknown dataset data.name='{cfg.name}': {hint}datasets are {', '.join(sorted(DATASETS))}")
    bundle = spec.build(cfg, aug)
    mixing = [k for k in ("cutmix", "mixup") if getattr(aug, k) is not None]
    if mixing and bundle.batch_transform is None:
        raise VislabError(
            f"aug.{mixing[0]} mixes images and class labels, which data.name={cfg.name} ({bundle.info.task}) does not do; "
            f"set aug.{mixing[0]}=null"
        )
    return split_labeled(bundle, cfg)


def status(root: str | None = None) -> list[tuple[str, str, Optional[bool]]]:
    """(name, what it needs, whether it is there) for every dataset, under ``root`` or the default root."""
    base = data_root(root)
    return [(name, *DATASETS[name].status(base)) for name in sorted(DATASETS)]


__all__ = [
    "DATASETS", "DataBundle", "DataInfo", "DatasetSpec", "Loader", "MemoryDataset", "SampleDataset",
    "augment_for_memory", "bootstrapped", "build", "data_root", "status",
]
