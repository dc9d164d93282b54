"""Your own images in ImageFolder layout: ``root/<class>/*`` or ``root/{train,val[,test]}/<class>/*``.

Without a val folder, validation (and test, without a test folder) is a stratified split seeded by
``data.split_seed``; each split's file list is saved in the run directory (splits/<split>.txt). Every
image is decoded once before training, so a damaged file stops the run before it starts (or, with
``data.skip_corrupt``, is left out and counted); the same pass gives the channel statistics and, for
small images of one size, the in-memory tensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..bundle import DataBundle
from ..families.class_folders import Listing, class_folders, list_class, listing_bundle
from ..loading.splits import stratified_split, user_folder

SPLITS = ("train", "val", "test")


def split_layout(root: Path) -> bool:
    """root/train/<class>/... rather than root/<class>/... (a class named 'train' holds images, not folders)."""
    train = root / "train"
    return train.is_dir() and bool(class_folders(train))


def list_folder(cfg: DataConfig, root: Path) -> Listing:
    """Classes, and the files of each split: from train/val/test folders, or a seeded stratified split."""
    skipped: list[str] = []
    bases = {s: root / s for s in SPLITS if (root / s).is_dir()} if split_layout(root) else {"train": root}
    classes = class_folders(bases["train"])
    if not classes:
        raise VislabError(f"{root} holds no class folders; expected {root}/<class>/<image> or {root}/train/<class>/<image>")
    names = [c.name for c in classes]
    if len(names) == 1:
        raise VislabError(f"{root} holds one class ({names[0]}); a classifier needs at least two class folders")
    found: dict[str, list[tuple[str, int]]] = {}
    for split, base in bases.items():
        found[split] = []
        for folder in class_folders(base):
            if folder.name not in names:
                raise VislabError(f"{folder} is a class the training folder {bases['train']} does not have")
            label = names.index(folder.name)
            found[split].extend((f, label) for f in list_class(folder, root, cfg.skip_corrupt, skipped))
    held_out = [s for s in ("val", "test") if s not in found]
    rng = np.random.default_rng(cfg.split_seed)
    found = {s: [items[i] for i in rng.permutation(len(items))] for s, items in found.items()}  # limit: a random subset
    notes = []
    if held_out:
        fractions = {"val": cfg.val_fraction, "test": cfg.test_fraction}
        val_f, test_f = (fractions[s] if s in held_out else 0.0 for s in ("val", "test"))
        items = found["train"]
        notes = single_image_notes(names, [label for _, label in items])
        parts = stratified_split([label for _, label in items], val_f, test_f, cfg.split_seed)
        for split, idx in zip(SPLITS, parts):
            if split == "train" or split in held_out:
                found[split] = [items[i] for i in idx]
    splits = {s: found[s][: cfg.limit] for s in SPLITS if found.get(s)}
    return Listing(names, splits, skipped, notes=notes)


def single_image_notes(names: list[str], labels: list[int]) -> list[str]:
    """A warning naming the classes with one image: the split keeps it in training, so no validation image
    measures the class."""
    counts = np.bincount(labels, minlength=len(names))
    single = [n for n, c in zip(names, counts) if c == 1]
    if not single:
        return []
    what = f"class {single[0]} has" if len(single) == 1 else f"classes {', '.join(single)} have"
    return [f"{what} a single image: it trains, and no validation image measures it"]


READS = ("root", "skip_corrupt", "limit", "val_fraction", "test_fraction", "split_seed", "channels", "in_memory")  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    root = user_folder(cfg.name, cfg.root, "a folder of class folders (root/<class>/<image>)")
    return listing_bundle(cfg, aug, root, list_folder(cfg, root))


def status(root: Path) -> tuple[str, Optional[bool]]:
    """None: there is nothing to look for under the data root; the user names the folder."""
    return "your own images: data.root=PATH holding <class>/<image> or train/<class>/<image> (val/, test/ optional)", None
