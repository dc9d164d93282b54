"""Images listed from class folders and read once before training: what the folder, domains, Office-Home and
DomainBed datasets share (the listing of each split, the one pass that decodes every image, the bundle)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..augment.per_sample import build_transform
from ..bundle import DataBundle
from ..datasets import FolderDataset
from ..files.images import IMAGE_EXTENSIONS, image_mode, is_hidden, is_image_file, read_image, unreadable_errors
from ..files.stats import stats_from_sums
from .per_image import MEMORY_SHARE, array_split, available_memory, classification_bundle, require_splits, use_memory


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


def class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not is_hidden(p))


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
