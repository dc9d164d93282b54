"""Folders of images and masks matched by file stem:

    ROOT/{image_dir,mask_dir}/                        one pool, split by data.val_fraction, test_fraction, split_seed
    ROOT/{train,val[,test]}/{image_dir,mask_dir}/     splits as given (a missing val is split off train)

With ``data.instance_dir``, a third folder beside them holds instance-id masks (0: no instance) matched by
stem, for panoptic work: every class but 0 is then a thing class.

Every pair is checked before anything is trained: each image has a mask of its own size, and every mask
value is in ``data.mask_values``, a class id, or the ignore index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..augment.per_sample import build_transform
from ..bundle import DataBundle, DataInfo
from ..families.per_pixel import (
    MaskValues, SegmentationFiles, augmented_train, image_size, load_image, mask_value_set, read_mask, relative_names,
    stored_channels,
)
from ..files.images import IMAGE_EXTENSIONS, is_image_file
from ..files.stats import stats_from_moments
from ..loading.splits import limited, stratified_split, user_folder

Pairs = list[tuple[Path, Path]]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))


def match(folder: Path, cfg: DataConfig) -> Pairs:
    """(image, mask) pairs of ``folder/{image_dir,mask_dir}``, by stem; an image without a mask is bad input."""
    image_dir, mask_dir = folder / cfg.image_dir, folder / cfg.mask_dir
    for d, key in ((image_dir, "data.image_dir"), (mask_dir, "data.mask_dir")):
        if not d.is_dir():
            raise VislabError(f"pairs: folder {d} does not exist (set {key}, or data.root to the dataset folder)")
    masks: dict[str, Path] = {}
    for m in _files(mask_dir):
        if m.stem in masks:
            raise VislabError(f"pairs: masks {masks[m.stem]} and {m} share the stem '{m.stem}'; keep one")
        masks[m.stem] = m
    pairs, seen = [], {}
    for image in _files(image_dir):
        if image.stem in seen:
            raise VislabError(f"pairs: images {seen[image.stem]} and {image} share the stem '{image.stem}'; keep one")
        seen[image.stem] = image
        if image.stem not in masks:
            raise VislabError(f"pairs: image {image} has no mask {mask_dir}/{image.stem}.png (masks are matched by file stem)")
        pairs.append((image, masks[image.stem]))
    if not pairs:
        raise VislabError(f"pairs: no images in {image_dir} (extensions {', '.join(IMAGE_EXTENSIONS)})")
    return pairs


def scan(pairs: Pairs) -> dict[Path, np.ndarray]:
    """Each mask's distinct values; an image and mask of different sizes is bad input naming the pair."""
    values = {}
    for image, mask in pairs:
        raw = read_mask(mask)
        if tuple(raw.shape) != image_size(image):
            h, w = image_size(image)
            raise VislabError(f"pairs: image {image} is {h}x{w} but its mask {mask} is {raw.shape[0]}x{raw.shape[1]}")
        values[mask] = mask_value_set(raw)
    return values


def count_classes(cfg: DataConfig, values: dict[Path, np.ndarray], root: Path) -> int:
    """``data.num_classes``, else the number of ``data.class_names``, else one more than the largest class id
    in ``data.mask_values``, else in the masks."""
    if cfg.num_classes is not None:
        if cfg.class_names is not None and len(cfg.class_names) != cfg.num_classes:
            raise VislabError(f"data.class_names has {len(cfg.class_names)} names but data.num_classes={cfg.num_classes}")
        return cfg.num_classes
    if cfg.class_names is not None:
        return len(cfg.class_names)
    raw = set(np.concatenate(list(values.values())).tolist())
    classes = set(cfg.mask_values.values() if cfg.mask_values else raw) - {cfg.ignore_index}
    if not classes or max(classes) < 1:
        raise VislabError(
            f"pairs: cannot tell the classes of {root}: its masks hold only the values {sorted(raw)[:8]}; "
            f"set data.mask_values (e.g. 'data.mask_values={{0: 0, 255: 1}}') or data.num_classes"
        )
    if not cfg.mask_values:
        check_stray(values, classes, cfg.ignore_index)
    return int(max(classes)) + 1


def stray_values(classes: set[int]) -> tuple[int, list[int]]:
    """(the last class id of the run without a gap from the lowest, the values past a gap): {0, 1, 7} -> (1, [7])."""
    top = min(classes)
    while top + 1 in classes:
        top += 1
    return top, sorted(v for v in classes if v > top)


def check_stray(values: dict[Path, np.ndarray], classes: set[int], ignore_index: int) -> None:
    """Class ids read from the masks run from the lowest without a gap; a value past a gap (7 among masks of 0
    and 1) would silently add classes that no pixel has: bad input naming the mask, the value, and the
    settings that either ignore it or declare the classes."""
    top, stray = stray_values(classes)
    if not stray:
        return
    holding = [mask for mask, found in values.items() if np.isin(found, stray).any()]
    others = f" (and {len(holding) - 1} other mask{'s' if len(holding) > 2 else ''})" if len(holding) > 1 else ""
    shown = ", ".join(str(v) for v in stray if v in values[holding[0]])
    mapping = ", ".join(f"{v}: {ignore_index}" for v in stray)
    raise VislabError(
        f"pairs: mask {holding[0]}{others} holds {shown}, which would make {stray[-1] + 1} classes where the masks "
        f"hold none of {top + 1}..{stray[0] - 1}; to ignore a stray value set data.num_classes={top + 1} "
        f"'data.mask_values={{{mapping}}}', or set data.num_classes={stray[-1] + 1} if there are that many"
    )


def pools(root: Path, cfg: DataConfig) -> dict[str, Pairs]:
    """The pairs of each split folder present: {"train": ...[, "val": ...][, "test": ...]}."""
    if not (root / "train").is_dir():
        return {"train": match(root, cfg)}
    return {split: match(root / split, cfg) for split in ("train", "val", "test") if (root / split).is_dir()}


def split(found: dict[str, Pairs], cfg: DataConfig) -> dict[str, Pairs]:
    """train/val[/test]: folders as given, the missing held-out parts split off train by ``data.split_seed``."""
    if "val" in found:
        return found
    pool = found["train"]
    test_fraction = 0.0 if "test" in found else cfg.test_fraction
    train, val, test = stratified_split([0] * len(pool), cfg.val_fraction, test_fraction, cfg.split_seed)
    if not len(val):
        raise VislabError(f"pairs: {len(pool)} images leave no validation image at data.val_fraction={cfg.val_fraction}")
    out = {"train": [pool[i] for i in train], "val": [pool[i] for i in val]}
    if "test" in found or len(test):
        out["test"] = found.get("test") or [pool[i] for i in test]
    return out


def instance_files(pairs: Pairs, cfg: DataConfig) -> list[Path]:
    """Each pair's instance-id mask in ``data.instance_dir`` beside its image folder, by stem, of the
    image's size; a missing or mis-sized one is bad input naming the image."""
    found: dict[Path, dict[str, Path]] = {}
    out = []
    for image, _ in pairs:
        folder = image.parent.parent / str(cfg.instance_dir)
        if folder not in found:
            if not folder.is_dir():
                raise VislabError(f"pairs: folder {folder} does not exist (set data.instance_dir to the folder of instance-id masks)")
            found[folder] = {p.stem: p for p in _files(folder)}
        path = found[folder].get(image.stem)
        if path is None:
            raise VislabError(f"pairs: image {image} has no instance mask {folder}/{image.stem}.png (matched by file stem)")
        if image_size(path) != image_size(image):
            h, w = image_size(image)
            raise VislabError(f"pairs: image {image} is {h}x{w} but its instance mask {path} is {'x'.join(map(str, image_size(path)))}")
        out.append(path)
    return out


def pixel_stats(pairs: Pairs, channels: int, limit: int = 32) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (in [0, 1] units) over up to ``limit`` training images."""
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    count = 0
    for image, _ in pairs[:limit]:
        x = load_image(image, channels).double().div(255).flatten(1)
        total += x.sum(1)
        squares += x.pow(2).sum(1)
        count += x.shape[1]
    return stats_from_moments(total, squares, count)


READS = ("root", "image_dir", "mask_dir", "instance_dir", "num_classes", "class_names", "mask_values", "ignore_index",
         "repeat", "limit", "val_fraction", "test_fraction", "split_seed", "channels")  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    """Checked, split pairs; splits/<split>.txt in the run directory lists each split's images."""
    root = user_folder(cfg.name, cfg.root, "the folder holding the images and masks")
    splits = split(pools(root, cfg), cfg)
    every = [p for pairs in splits.values() for p in pairs]
    values = scan(every)
    num_classes = count_classes(cfg, values, root)
    mapping = MaskValues(num_classes, cfg.ignore_index, cfg.mask_values)
    for mask, found in values.items():
        mapping.check(found, mask)
    splits = {k: list(limited(v, cfg.limit)) for k, v in splits.items()}
    channels = cfg.channels or stored_channels(every[0][0])
    mean, std = pixel_stats(splits["train"], channels)
    instances = {k: instance_files(v, cfg) if cfg.instance_dir else None for k, v in splits.items()}
    info = DataInfo(
        task="segmentation", num_classes=num_classes,
        class_names=list(cfg.class_names or [str(i) for i in range(num_classes)]),
        channels=channels, mean=mean, std=std, ignore_index=cfg.ignore_index,
        thing_classes=list(range(1, num_classes)) if cfg.instance_dir else None,
    )
    eval_transform = build_transform(aug, train=False, ignore_index=cfg.ignore_index)
    test: Optional[SegmentationFiles] = None
    if splits.get("test"):
        test = SegmentationFiles(splits["test"], channels, mapping, eval_transform, instances["test"])
    return DataBundle(
        train=augmented_train(SegmentationFiles(splits["train"], channels, mapping, instances=instances["train"]), cfg, aug),
        val=SegmentationFiles(splits["val"], channels, mapping, eval_transform, instances["val"]),
        test=test,
        info=info,
        files={name: relative_names(pairs, root) for name, pairs in splits.items()},
    )


def status(root: Path) -> tuple[str, Optional[bool]]:
    """None: there is nothing to look for under the data root; the user names the folder."""
    return "your own folder: data.root=FOLDER with images/ and masks/ (or train/, val/ each holding them)", None
