"""Datasets by name: ``build(cfg.data, cfg.aug) -> DataBundle``; ``status`` says what each needs on disk. The
package (data/__init__.py) hands these out by name."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..config import AugConfig, DataConfig
from ..data_info import per_pixel_targets
from ..errors import VislabError
from ..reads import check_reads
from .augment.per_batch import augment_for_memory
from .augment.plan import image_only
from .bundle import DataBundle
from .datasets import MemoryDataset, SampleDataset
from .loading.class_balance import class_counts, class_labels
from .loading.folds import excluded, held_out
from .loading.labeled import bootstrapped, split_labeled
from .loading.loader import Loader
from .loading.samplers import train_sampler
from .loading.splits import data_root
from .sources import (
    ade20k, cifar, cityscapes, coco_panoptic, digits, digits_dg, domain_folders, domainbed, folder, mnist, officehome,
    pairs, shapes, voc,
)


@dataclass(frozen=True)
class DatasetSpec:
    """How to build a dataset, and how to tell whether its files are on disk under a root."""

    build: Callable[[DataConfig, AugConfig], DataBundle]
    status: Callable[[Path], tuple[str, Optional[bool]]]  # None: the user names the folder (data.root)
    reads: tuple[str, ...]  # data.* keys the builder reads beyond COMMON; any other set is refused


COMMON = ("name", "num_workers", "sampler", "domains_per_batch", "labeled_per_class", "labeled_fraction",
          "unlabeled_root", "bootstrap", "exclude", "folds", "fold")  # read for every dataset: the loaders take
# num_workers; data.build itself checks the sampler against the data's domains and splits labeled/unlabeled


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec(digits.build, digits.status, digits.READS),
    **{name: DatasetSpec(*mnist.builders(name), mnist.READS) for name in mnist.SETS},
    **{name: DatasetSpec(*cifar.builders(name), cifar.READS) for name in cifar.SETS},
    "folder": DatasetSpec(folder.build, folder.status, folder.READS),
    "officehome": DatasetSpec(officehome.build, officehome.status, officehome.READS),
    "digits-dg": DatasetSpec(digits_dg.build, digits_dg.status, digits_dg.READS),
    "domains": DatasetSpec(domain_folders.build, domain_folders.status, domain_folders.READS),
    **{name: DatasetSpec(*domainbed.builders(name), domainbed.READS) for name in domainbed.SETS},
    "pairs": DatasetSpec(pairs.build, pairs.status, pairs.READS),
    "shapes": DatasetSpec(shapes.build, shapes.status, shapes.READS),
    "voc": DatasetSpec(voc.build, voc.status, voc.READS),
    "ade20k": DatasetSpec(ade20k.build, ade20k.status, ade20k.READS),
    "cityscapes": DatasetSpec(cityscapes.build, cityscapes.status, cityscapes.READS),
    "coco_panoptic": DatasetSpec(coco_panoptic.build, coco_panoptic.status, coco_panoptic.READS),
}


def spec_of(cfg: DataConfig) -> DatasetSpec:
    """The named dataset's spec, once the data.* keys set are ones it reads; unknown names list the close matches."""
    spec = DATASETS.get(cfg.name)
    if spec is None:
        close = difflib.get_close_matches(cfg.name, DATASETS, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise VislabError(f"unknown dataset data.name='{cfg.name}': {hint}datasets are {', '.join(sorted(DATASETS))}")
    check_reads(cfg, "data", COMMON + spec.reads, f"data.name={cfg.name}")
    return spec


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    """The named dataset's splits and info; unknown names list the close matches."""
    bundle = spec_of(cfg).build(cfg, aug)
    mixing = [k for k in ("cutmix", "mixup") if getattr(aug, k) is not None and getattr(aug, k).p > 0]  # p=0 is off
    if mixing and bundle.batch_transform is None:
        raise VislabError(
            f"aug.{mixing[0]} mixes images and class labels, which data.name={cfg.name} ({bundle.info.task}) does not do; "
            f"set aug.{mixing[0]}=null"
        )
    moving = image_only(aug)
    if moving and per_pixel_targets(bundle.info.task):
        raise VislabError(
            f"{moving[0]} moves image pixels but not the masks of data.name={cfg.name} ({bundle.info.task}); "
            f"set {moving[0]}=null and use the geometric aug.* keys"
        )
    bundle = split_labeled(held_out(excluded(bundle, cfg), cfg), cfg)
    labels = class_labels(bundle.train, bundle.info.task)
    if labels is not None:
        bundle.info.class_counts = class_counts(labels, bundle.info.num_classes).tolist()
    bundle.train_sampler = train_sampler(cfg, bundle)  # over the labeled subset that trains, not the whole split
    return bundle


def status(root: str | None = None) -> list[tuple[str, str, Optional[bool]]]:
    """(name, what it needs, whether it is there) for every dataset, under ``root`` or the default root."""
    base = data_root(root)
    return [(name, *DATASETS[name].status(base)) for name in sorted(DATASETS)]
