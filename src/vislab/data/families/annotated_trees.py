"""Segmentation datasets whose images and annotations live in parallel folder trees (ADE20K, Cityscapes):
matching each image to its annotation by name, and checking a few annotations before any training."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..bundle import DataBundle, DataInfo
from ..files.stats import IMAGENET_MEAN, IMAGENET_STD
from ..loading.splits import limited
from .per_pixel import MaskValues, SegmentationFiles, image_size, mask_value_set, read_mask, split_bundle

CHECKED_PER_SPLIT = 8  # a wrong or damaged dataset shows in its first annotations; all would take minutes


def matched(images: Path, masks: Path, image_suffix: str, mask_suffix: str, redo: str) -> list[tuple[Path, Path]]:
    """(image, annotation) pairs: every file under ``images`` (any depth) whose name ends with
    ``image_suffix``, with the file of the same relative folder under ``masks`` whose name ends with
    ``mask_suffix`` instead. An image without its annotation, or no image at all, is bad input ending
    with ``redo`` (what to do)."""
    pairs = []
    for image in sorted(p for p in images.rglob(f"*{image_suffix}") if p.is_file()):
        rel = image.relative_to(images)
        mask = masks / rel.parent / (image.name[: -len(image_suffix)] + mask_suffix)
        if not mask.is_file():
            raise VislabError(f"image {image} has no annotation {mask}; {redo}")
        pairs.append((image, mask))
    if not pairs:
        raise VislabError(f"{images} holds no *{image_suffix} images; {redo}")
    return pairs


def check_masks(splits: dict[str, list[tuple[Path, Path]]], values: MaskValues, what: str, redo: str) -> None:
    """The first annotations of every split: of their image's size, holding only values that ``values``
    maps (``what`` says which they are); else bad input ending with ``redo``."""
    for pairs in splits.values():
        for image, mask in pairs[:CHECKED_PER_SPLIT]:
            raw = read_mask(mask)
            if tuple(raw.shape) != image_size(image):
                h, w = image_size(image)
                raise VislabError(f"image {image} is {h}x{w} but its annotation {mask} is {raw.shape[0]}x{raw.shape[1]}; {redo}")
            bad = values.invalid(mask_value_set(raw))
            if bad:
                raise VislabError(f"annotation {mask} holds values {', '.join(map(str, bad[:8]))}, not {what}; {redo}")


def annotated_bundle(cfg: DataConfig, aug: AugConfig, base: Path, folders: dict[str, tuple[Path, Path]],
                     suffixes: tuple[str, str], classes: Sequence[str], values: MaskValues, what: str, redo: str) -> DataBundle:
    """The bundle of RGB images and their annotations: ``folders`` gives each split's (images, annotations)
    folders, ``suffixes`` the (image, annotation) name endings (see ``matched``), ``values`` the class of
    each annotation value (``what`` describes them); bad input ends with ``redo``."""
    splits = {split: list(limited(matched(images, masks, *suffixes, redo), cfg.limit)) for split, (images, masks) in folders.items()}
    check_masks(splits, values, what, redo)
    info = DataInfo(task="segmentation", num_classes=len(classes), class_names=list(classes), channels=3,
                    mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), ignore_index=values.ignore_index)
    return split_bundle(cfg, aug, splits, lambda items, t: SegmentationFiles(items, 3, values, t), info, base)
