"""`vislab data check`: what a dataset holds, split by split, read as training reads it, and what is wrong
with it: class balance, image sizes and modes, unreadable and poor images, duplicates and leaks across
splits, and (segmentation) masks training would misread."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ...config import Config
from ...data_info import per_pixel_targets
from ..files.images import prefetched, unreadable_errors
from .duplicates import Pair, duplicate_pairs
from .images import Facts, facts, histogram, need_imagehash, odd_values, quality_issues
from .masks import MaskReport, check_masks
from .sources import Item, Source, source


@dataclass
class SplitReport:
    """One split: its images, classes (counts [C]), domain x class counts [D, C] (domain generalization), the
    histograms of sizes (W, H), modes and channels, the odd ones out by name, unreadable files with their
    error, and quality issues by name."""

    images: int
    classes: Optional[np.ndarray] = None
    domain_classes: Optional[np.ndarray] = None
    sizes: list[tuple] = field(default_factory=list)
    modes: list[tuple] = field(default_factory=list)
    channels: list[tuple] = field(default_factory=list)
    odd: dict[str, str] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    quality: dict[str, list[str]] = field(default_factory=dict)

    def imbalance(self) -> float:
        """Largest class over smallest (inf when a class has no image)."""
        if self.classes is None or not len(self.classes):
            return float("nan")
        return float(self.classes.max() / self.classes.min()) if self.classes.min() > 0 else float("inf")


@dataclass
class DataCheck:
    source: Source
    splits: dict[str, SplitReport]
    pairs: list[Pair]
    masks: Optional[MaskReport]

    @property
    def leaks(self) -> list[Pair]:
        """Pairs whose two images sit in different splits."""
        return [p for p in self.pairs if p.across]

    def trained_files(self) -> dict[str, list[str]]:
        """Each split's files as a run lists them in splits/<split>.txt: unreadable ones are left out (training
        with data.skip_corrupt=true skips them; without, it does not start)."""
        out = {}
        for split, names in self.source.files.items():
            unreadable = {name for name, _ in self.splits[split].unreadable}
            out[split] = [name for name in names if name not in unreadable]
        return out

    @property
    def invalid_masks(self) -> list:
        return self.masks.problems if self.masks is not None else []


Progress = Callable[[int, int], None]  # (done, total)


def check_data(cfg: Config, progress: Optional[Progress] = None) -> DataCheck:
    """Check the data of ``cfg`` (data.* keys as training reads them); bad input raises VislabError before
    any image is read. ``progress(done, total)`` is told as images are read."""
    need_imagehash()
    src = source(cfg)
    everything = [(split, item) for split, items in src.splits.items() for item in items]
    found: dict[tuple[str, str], Facts] = {}
    errors: dict[tuple[str, str], str] = {}
    bad = unreadable_errors()

    def read(entry: tuple[str, Item]) -> tuple[Optional[Facts], Optional[str]]:
        try:
            return facts(entry[1].image()), None
        except bad as e:
            return None, f"{type(e).__name__}: {e}"

    for done, ((split, item), (fact, error)) in enumerate(zip(everything, prefetched(everything, read)), 1):
        if fact is None:
            errors[(split, item.name)] = str(error)
        else:
            found[(split, item.name)] = fact
        if progress is not None:
            progress(done, len(everything))
    splits = {split: split_report(src, split, items, found, errors) for split, items in src.splits.items()}
    pairs = duplicate_pairs([(split, name, f) for (split, name), f in found.items()])
    masks = None
    if per_pixel_targets(src.task):
        sizes = {key: found[key].size if key in found else None for key in ((s, it.name) for s, it in everything)}
        masks = check_masks(src, sizes)
    return DataCheck(src, splits, pairs, masks)


def split_report(src: Source, split: str, items: list[Item], found: dict[tuple[str, str], Facts],
                 errors: dict[tuple[str, str], str]) -> SplitReport:
    mine = {it.name: found[(split, it.name)] for it in items if (split, it.name) in found}
    report = SplitReport(len(items))
    if src.class_names and items and items[0].label is not None:
        report.classes = np.bincount([it.label for it in items], minlength=len(src.class_names))
        if src.domains:
            table = np.zeros((len(src.domains), len(src.class_names)), np.int64)
            for it in items:
                table[it.domain, it.label] += 1
            report.domain_classes = table
    sizes = {n: f.size for n, f in mine.items()}
    modes = {n: f.mode for n, f in mine.items()}
    report.sizes = histogram(list(sizes.values()))
    report.modes = histogram(list(modes.values()))
    report.channels = histogram([f.channels for f in mine.values()])
    odd_size, odd_mode = odd_values(sizes), odd_values(modes)
    report.odd = {n: ", ".join(x for x in (f"size {odd_size[n][1]}x{odd_size[n][0]}" if n in odd_size else "",
                                           f"mode {odd_mode[n]}" if n in odd_mode else "") if x)
                  for n in {*odd_size, *odd_mode}}
    report.unreadable = [(it.name, errors[(split, it.name)]) for it in items if (split, it.name) in errors]
    report.quality = quality_issues(mine)
    return report


__all__ = ["DataCheck", "Pair", "SplitReport", "check_data"]
