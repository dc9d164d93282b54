"""Your own images in ImageFolder layout: ``root/<class>/*`` or ``root/{train,val[,test]}/<class>/*``.

Without a val folder, validation (and test, without a test folder) is a stratified split seeded by
``data.split_seed``; each split's file list is saved in the run directory (splits/<split>.txt). Every
image is decoded once before training, so a damaged file stops the run before it starts (or, with
``data.skip_corrupt``, is left out and counted); the same pass gives the channel statistics and, for
small images of one size, the in-memory tensors.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ..config import AugConfig, DataConfig
from ..errors import VislabError
from .bundle import DataBundle
from .classification import (
    MEMORY_SHARE, array_split, available_memory, classification_bundle, require_splits, use_memory,
)
from .datasets import SampleDataset, extra_labels
from .digits import stats_from_moments
from .images import IMAGE_EXTENSIONS, image_mode, is_hidden, is_image_file, read_image, unreadable_errors
from .splits import stratified_split, user_folder
from .transforms import build_transform

SPLITS = ("train", "val", "test")


@dataclass
class Listing:
    """The files of each split before any is opened: (path relative to the root, class id, then one
    value per name in ``extra_keys``, such as a domain id)."""

    class_names: list[str]
    splits: dict[str, list[tuple]]
    skipped: list[str] = field(default_factory=list)
    extra_keys: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)  # warnings for the user, such as a class of one image

    def extras(self, split: str) -> dict[str, torch.Tensor]:
        """The split's further labels by name, int64 [N]."""
        return {k: torch.tensor([it[2 + j] for it in self.splits[split]], dtype=torch.int64)
                for j, k in enumerate(self.extra_keys)}


class FolderDataset(SampleDataset):
    """Images decoded from disk one at a time, converted to ``mode``, augmented by a v2 pipeline;
    ``extras`` holds further per-sample labels [N] by name."""

    def __init__(
        self, root: Path, items: list[tuple], mode: str, transform, extras: Optional[dict[str, torch.Tensor]] = None
    ) -> None:
        self.root = root
        self.items = [(it[0], it[1]) for it in items]
        self.mode = mode
        self.transform = transform
        self.extras = extras or {}

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int) -> dict:
        from torchvision import tv_tensors

        name, label = self.items[index]
        sample = {"image": tv_tensors.Image(read_image(self.root / name, self.mode)), "target": label}
        return {**sample, **extra_labels(self.extras, index)}


def class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not is_hidden(p))


def split_layout(root: Path) -> bool:
    """root/train/<class>/... rather than root/<class>/... (a class named 'train' holds images, not folders)."""
    train = root / "train"
    return train.is_dir() and bool(class_folders(train))


def list_class(folder: Path, root: Path, skip_unknown: bool, skipped: list[str]) -> list[str]:
    """Image files under one class folder, relative to ``root``; another kind of file is bad input
    (or skipped with ``data.skip_corrupt``); hidden files are ignored."""
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if is_image_file(path):
            files.append(rel)
        elif skip_unknown:
            skipped.append(rel)
        else:
            raise VislabError(
                f"{path} is not an image ({', '.join(IMAGE_EXTENSIONS)}); move it out of {root}, "
                "or set data.skip_corrupt=true to skip such files"
            )
    if not files:
        raise VislabError(f"class folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}); add some or remove it")
    return files


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


@dataclass
class Scan:
    """What decoding every listed image found."""

    sizes: set
    colour: bool
    unreadable: list[tuple[str, str]]
    sums: dict[str, tuple[torch.Tensor, torch.Tensor, int]]  # per image: channel sums, sums of squares, pixels
    tensors: Optional[dict[str, torch.Tensor]]  # rel path -> uint8 [C, H, W], while they fit the budget


def scan(root: Path, names: list[str], mode: Optional[str], keep_budget: int) -> Scan:
    """Decode every image (in threads: PIL releases the GIL while decoding) to find the unreadable ones,
    their sizes, whether any is in colour, and their channel sums; keep the decoded tensors while they
    fit ``keep_budget`` bytes."""
    bad = unreadable_errors()

    def decode(name: str) -> tuple[Optional[torch.Tensor], Optional[str]]:
        try:
            return read_image(root / name, mode), None
        except bad as e:
            return None, f"{type(e).__name__}: {e}"

    out = Scan(set(), False, [], {}, {})
    used = 0
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for name, (tensor, error) in zip(names, pool.map(decode, names)):
            if tensor is None:
                out.unreadable.append((name, str(error)))
                continue
            out.sizes.add(tuple(tensor.shape[-2:]))
            out.colour |= tensor.shape[0] == 3
            x = tensor.double().div_(255).flatten(1)
            out.sums[name] = (x.sum(1), x.square().sum(1), x.shape[1])
            used += tensor.numel()
            if out.tensors is not None and used <= keep_budget:
                out.tensors[name] = tensor
            else:
                out.tensors = None
    return out


READS = ("root", "skip_corrupt", "limit", "val_fraction", "test_fraction", "split_seed", "channels", "in_memory")  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    root = user_folder(cfg.name, cfg.root, "a folder of class folders (root/<class>/<image>)")
    return listing_bundle(cfg, aug, root, list_folder(cfg, root))


def listing_bundle(cfg: DataConfig, aug: AugConfig, root: Path, listing: Listing) -> DataBundle:
    """The bundle of the listed files under ``root``: every image decoded once (unreadable ones stop the
    run or are skipped), channel statistics of the training split, in memory when small enough."""
    everything = [it[0] for items in listing.splits.values() for it in items]
    found = scan(root, everything, image_mode(cfg.channels), available_memory() // MEMORY_SHARE)
    notes = list(listing.notes)
    if found.unreadable:
        first, error = found.unreadable[0]
        if not cfg.skip_corrupt:
            more = f" (and {len(found.unreadable) - 1} more)" if len(found.unreadable) > 1 else ""
            raise VislabError(
                f"cannot read image {root / first}{more}: {error}; fix or remove it, or set data.skip_corrupt=true"
            )
        bad = {name for name, _ in found.unreadable}
        listing.splits = {s: [it for it in items if it[0] not in bad] for s, items in listing.splits.items()}
    if found.unreadable or listing.skipped:
        notes.append(f"skipped {len(found.unreadable)} unreadable images and {len(listing.skipped)} other files in {root}")
    require_splits({k: len(v) for k, v in listing.splits.items()})
    check_classes(listing, root)
    channels = cfg.channels or (3 if found.colour else 1)
    if len(found.sizes) > 1 and aug.resize is None and aug.center_crop is None:
        shown = ", ".join(f"{h}x{w}" for h, w in sorted(found.sizes)[:3])
        raise VislabError(f"the images in {root} have different sizes ({shown}, ...); set aug.resize=[H, W]")
    nbytes = len(everything) * channels * max(h * w for h, w in found.sizes)
    memory = use_memory(cfg.in_memory, aug, nbytes=nbytes, sizes=found.sizes)
    if memory and found.tensors is None:
        if cfg.in_memory is True:
            raise VislabError(f"data.in_memory=true: the images in {root} do not fit in memory; set data.in_memory=false")
        memory = False
    splits: dict[str, Any] = {}
    for split, items in listing.splits.items():
        train, extras = split == "train", listing.extras(split)
        if memory:
            images = torch.stack([as_channels(found.tensors[it[0]], channels) for it in items])
            targets = torch.tensor([it[1] for it in items], dtype=torch.int64)
            splits[split] = array_split(images, targets, aug, memory=True, train=train, extras=extras)
        else:
            splits[split] = FolderDataset(root, items, image_mode(channels), build_transform(aug, train=train), extras)
    mean, std = stats_from_sums([found.sums[it[0]] for it in listing.splits["train"]], channels)
    files = {s: [it[0] for it in items] for s, items in listing.splits.items()}
    return classification_bundle(splits, listing.class_names, channels, mean, std, aug, files=files, notes=notes)


def check_classes(listing: Listing, root: Path) -> None:
    """Every class keeps training images once unreadable files are left out."""
    present = {it[1] for it in listing.splits.get("train", [])}
    empty = [n for i, n in enumerate(listing.class_names) if i not in present]
    if empty:
        raise VislabError(f"class {empty[0]} in {root} has no readable training images; add some or remove the folder")


def as_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    """A gray uint8 [1, H, W] image repeated to RGB where the folder mixes gray and colour images."""
    return image.expand(channels, -1, -1) if image.shape[0] != channels else image


def stats_from_sums(sums: list[tuple[torch.Tensor, torch.Tensor, int]], channels: int) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] units from per-image (sums, sums of squares, pixels)."""
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros_like(total)
    count = 0
    for s, sq, n in sums:
        total += s  # a gray image's one channel counts for each of R, G and B (it is repeated)
        squares += sq
        count += n
    return stats_from_moments(total, squares, count)


def status(root: Path) -> tuple[str, Optional[bool]]:
    """None: there is nothing to look for under the data root; the user names the folder."""
    return "your own images: data.root=PATH holding <class>/<image> or train/<class>/<image> (val/, test/ optional)", None
