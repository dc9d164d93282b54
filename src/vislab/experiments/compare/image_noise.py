"""The comparison's second table per metric: intervals over test images from the runs' per-sample records,
a paired bootstrap of each group against the baseline, and which source of noise (seeds or images) dominates."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

from ... import records
from ...runs import Run
from ..stats import bootstrap

NAN = float("nan")


@dataclass
class ImageRow:
    """One group under resampled images (NaN where a number does not exist)."""

    group: str
    runs: int
    images: int
    mean: float
    low: float
    high: float
    image_std: float  # bootstrap std of one run's metric: the noise of drawing the test images
    seed_std: float  # std of the metric over seeds: the noise of training
    dominant: str  # "images", "seeds", or "" with one run (no seed spread)
    diff: float = NAN
    diff_low: float = NAN
    diff_high: float = NAN


def split_and_metric(metric: str) -> Optional[tuple[str, str]]:
    """'test_acc' -> ('test', 'acc') when records can recompute it."""
    split, _, bare = metric.partition("_")
    return (split, bare) if split in ("val", "test") and bare in records.METRICS else None


def one_run_per_seed(runs: list[Run], seed_of: Any) -> list[Run]:
    """The first run of each seed (repeats of a seed are not independent samples)."""
    seen: dict[Any, Run] = {}
    for run in runs:
        seen.setdefault(seed_of(run), run)
    return list(seen.values())


def image_table(groups: list[Any], baseline: Any, metric: str, seed_of: Any, seed_std: dict[str, float]) -> tuple[list[ImageRow], list[str]]:
    """Rows for the groups whose every run has records of the metric's split, and notes on those left out.

    ``groups`` come baseline first; ``seed_std`` is each group's spread over seeds from the t table.
    """
    parsed = split_and_metric(metric)
    if parsed is None:
        return [], []
    split, bare = parsed
    loaded: dict[str, list[records.Records]] = {}
    notes = []
    by_group = {g.label: (runs, [records.read(r.dir, split) for r in runs])
                for g in groups for runs in [one_run_per_seed(g.runs, seed_of)]}
    if all(f is None for _, found in by_group.values() for f in found):
        return [], []  # runs that kept no records (older runs): the seed table alone, as before
    for group in groups:
        runs, found = by_group[group.label]
        missing = [r.dir.name for r, f in zip(runs, found) if f is None or records.metric_function(f, bare) is None]
        if missing:
            notes.append(f"No {split} records for {metric} in {', '.join(missing)}: {group.label} has no interval over images.")
            continue
        differs = bootstrap.same_images(found)
        if differs:
            notes.append(f"The runs of {group.label} were evaluated on different {split} images ({differs}): no interval over images.")
            continue
        loaded[group.label] = found
    rows = []
    base = loaded.get(baseline.label) if baseline is not None else None  # None: no baseline on their data
    for group in groups:
        found = loaded.get(group.label)
        if found is None:
            continue
        fn = records.metric_function(found[0], bare)
        interval, image_std = bootstrap.group_interval(found, fn)
        sd = seed_std.get(group.label, NAN)
        dominant = "" if math.isnan(sd) else ("images" if image_std > sd else "seeds")
        row = ImageRow(group.label, len(found), len(found[0]["index"]), interval.value, interval.low, interval.high, image_std, sd, dominant)
        if base is not None and group is not baseline:
            if bootstrap.same_images([*found, *base]) is None:
                d = bootstrap.paired_interval(found, base, fn)
                row.diff, row.diff_low, row.diff_high = d.value, d.low, d.high
            else:
                notes.append(f"{group.label} and the baseline were evaluated on different {split} images: no paired bootstrap.")
        rows.append(row)
    return rows, notes
