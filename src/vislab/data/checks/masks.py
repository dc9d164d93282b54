"""Segmentation masks as training reads them: values that are neither a class id nor the ignore index, 0/255
masks whose 255 reads as "ignore", colour (RGB) masks, palette masks, masks of another size than their image, classes that never
occur, each class's pixel share and images; for panoptic data the instances per image and their areas.

The rules are training's own: ``MaskValues`` (data.mask_values, class ids, the ignore index) and, where
neither data.num_classes nor data.class_names says how many classes there are, ``pairs.stray_values``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

import numpy as np

from ...errors import VislabError
from ..families.per_pixel import MaskValues
from ..sources.pairs import stray_values
from .sources import Item, Source


@dataclass
class MaskProblem:
    """A mask training would misread or refuse: ``split``, ``mask`` (file or sample name), what is wrong, and
    the setting (or fix) to use."""

    split: str
    mask: str
    problem: str
    fix: str


@dataclass
class SplitMasks:
    """Per class: pixels (valid ones, after data.mask_values) and images it appears in; instances per image and
    instance areas (panoptic)."""

    pixels: np.ndarray
    images: np.ndarray
    instances: list[int] = field(default_factory=list)
    areas: list[int] = field(default_factory=list)


@dataclass
class MaskReport:
    num_classes: int
    splits: dict[str, SplitMasks]
    problems: list[MaskProblem]
    palette: list[str]  # palette masks (their indices are the class ids, not their colours)
    never: list[int]  # class ids no training pixel has


def value_counts(raw: np.ndarray) -> dict[int, int]:
    """Each raw value of a mask and its pixels."""
    values, counts = np.unique(raw, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts)}


def binary_255(values: Iterable[int], source: Source) -> bool:
    """A 0/255 mask read with 255 as the ignore index (no data.mask_values): its foreground is never learned."""
    values = set(values)
    return not source.mask_values and source.ignore_index == 255 and 255 in values and values <= {0, 255}


def class_count(counted: dict[str, dict[str, dict[int, int]]], source: Source) -> int:
    """data.num_classes (or the class names' number), else the classes the masks hold without a gap from 0,
    read through data.mask_values; 0/255 masks do not count (their 255 is reported, not a class), and where
    every mask is one the data is binary."""
    if source.num_classes is not None:
        return source.num_classes
    classes = {source.mask_values.get(v, v) if source.mask_values else v
               for masks in counted.values() for values in masks.values() if not binary_255(values, source) for v in values}
    classes -= {source.ignore_index}
    return stray_values(classes)[0] + 1 if classes else 2


def check_masks(source: Source, sizes: dict[tuple[str, str], Optional[tuple[int, int]]]) -> MaskReport:
    """Read every mask of ``source`` once; ``sizes`` gives each image's (W, H) by (split, name) (None: unreadable)."""
    counted: dict[str, dict[str, dict[int, int]]] = {}
    problems: list[MaskProblem] = []
    palette: list[str] = []
    shapes: dict[tuple[str, str], tuple[int, int]] = {}
    for split, items in source.splits.items():
        counted[split] = {}
        for item in items:
            try:
                raw = item.mask()
            except VislabError as e:  # training stops at such a mask; the check names it and goes on
                problem, _, fix = str(e).partition("; ")
                problems.append(MaskProblem(split, item.mask_name or item.name, problem, fix or "fix or remove it"))
                continue
            counted[split][item.name] = value_counts(raw)
            shapes[(split, item.name)] = raw.shape[::-1]
            if item.palette:
                palette.append(item.mask_name or item.name)
    num_classes = class_count(counted, source)
    mapping = MaskValues(num_classes, source.ignore_index, source.mask_values)
    every_binary = all(binary_255(v, source) for masks in counted.values() for v in masks.values())
    report = MaskReport(num_classes, {}, problems, palette, [])
    for split, items in source.splits.items():
        stats = SplitMasks(np.zeros(num_classes, np.int64), np.zeros(num_classes, np.int64))
        for item in (it for it in items if it.name in counted[split]):
            values = counted[split][item.name]
            problems += item_problems(split, item, values, source, mapping, every_binary,
                                      sizes.get((split, item.name)), shapes[(split, item.name)])
            add_pixels(stats, values, mapping)
            if item.instances is not None:
                add_instances(stats, item.instances())
        report.splits[split] = stats
    report.never = [c for c in range(num_classes) if report.splits["train"].images[c] == 0]
    return report


def item_problems(split: str, item: Item, values: dict[int, int], source: Source, mapping: MaskValues, every_binary: bool,
                  image_size: Optional[tuple[int, int]], mask_size: tuple[int, int]) -> list[MaskProblem]:
    name = item.mask_name or item.name
    out = []
    if image_size is not None and image_size != mask_size:
        out.append(MaskProblem(split, name, f"mask is {mask_size[1]}x{mask_size[0]}, its image {image_size[1]}x{image_size[0]}",
                               "save the mask at its image's size"))
    if binary_255(values, source):
        fix = ("set 'data.mask_values={0: 0, 255: 1}' data.num_classes=2" if every_binary else
               "re-save it with class ids, or if 255 marks one class C in every mask set 'data.mask_values={255: C}'")
        out.append(MaskProblem(split, name, "holds only 0 and 255; 255 reads as the ignore index "
                               f"(data.ignore_index={mapping.ignore_index}), so its foreground is never learned", fix))
        return out
    bad = mapping.invalid(np.array(sorted(values)))
    if bad:
        ignore = ", ".join(f"{v}: {mapping.ignore_index}" for v in bad)
        out.append(MaskProblem(
            split, name, f"holds {', '.join(map(str, bad))}: neither a class id (0..{mapping.num_classes - 1}), "
            f"data.mask_values nor the ignore index {mapping.ignore_index}",
            f"set 'data.mask_values={{{ignore}}}' to ignore it, or data.num_classes={max(bad) + 1} if there are that many classes"))
    return out


def add_pixels(stats: SplitMasks, values: dict[int, int], mapping: MaskValues) -> None:
    """Count a mask's valid pixels per class (values training would refuse are left out)."""
    present = set()
    for raw, count in values.items():
        if 0 <= raw < len(mapping.lut) and 0 <= mapping.lut[raw] < len(stats.pixels):
            stats.pixels[mapping.lut[raw]] += count
            present.add(int(mapping.lut[raw]))
    for c in present:
        stats.images[c] += 1


def add_instances(stats: SplitMasks, ids: np.ndarray) -> None:
    counts = value_counts(ids)
    counts.pop(0, None)
    stats.instances.append(len(counts))
    stats.areas += list(counts.values())
