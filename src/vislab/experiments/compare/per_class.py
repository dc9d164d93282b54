"""What a change did per class: each group's accuracy of each class's images (IoU per class for segmentation, PQ
per class for panoptic runs) from the runs' per-image records, and each group's per-class difference from the
baseline with a paired bootstrap over the same test images, Holm-adjusted across the classes: the classes that
gained and the classes that lost."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ... import records
from ...runs import read_data_info
from ..stats import bootstrap
from ..stats import over_seeds as stats
from .image_noise import one_run_per_seed, split_and_metric

ALPHA = 0.05
NAN = float("nan")


@dataclass
class ClassRow:
    """A group's values per class, and against its baseline (the lists are empty for a baseline): the
    difference, its Holm-adjusted interval, the bootstrap p-value before and after Holm's correction, and
    "gained", "lost" or "" per class. NaN where a class has no images (or no pixels)."""

    group: str
    baseline: str  # the label of the group it is compared with; its own label for a baseline
    values: list[float]
    diff: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)  # of each class's interval (Holm's level at its rank)
    p: list[float] = field(default_factory=list)
    p_holm: list[float] = field(default_factory=list)
    verdict: list[str] = field(default_factory=list)

    def named(self, verdict: str) -> list[int]:
        """The classes with ``verdict`` (gained or lost)."""
        return [k for k, v in enumerate(self.verdict) if v == verdict]


@dataclass
class ClassTable:
    """Per-class values of ``metric`` for every group with records (baselines first in each family)."""

    metric: str
    classes: list[str]
    rows: list[ClassRow]


def class_metric(metrics: list[str]) -> Optional[str]:
    """The metric the per-class table is of: the first test metric that records can recompute per class (test
    images were not used to choose the checkpoint), else the first such validation metric."""
    usable = [m for m in metrics if (parsed := split_and_metric(m)) and parsed[1] in records.CLASS_METRICS]
    return next((m for m in usable if m.startswith("test_")), usable[0] if usable else None)


def class_differences(group: list[records.Records], baseline: list[records.Records], fn: records.Metric, mode: str,
                      resamples: int = bootstrap.RESAMPLES, seed: int = 0) -> dict[str, list[Any]]:
    """Per class: group - baseline (mean over runs, every image), the bootstrap p-value of the paired
    difference, Holm-adjusted across the classes present, and the percentile interval at Holm's level for
    the class's rank (1 - ALPHA / (classes - rank), rank 0 for the smallest p): an interval that leaves 0 out
    where the class passes its step of Holm's procedure. A class gained (or lost, by ``mode``) where its
    adjusted p-value is below ALPHA."""
    point, samples = bootstrap.paired_samples(group, baseline, fn, resamples, seed)
    point = point[0]
    p = bootstrap.bootstrap_p(samples)
    present = [k for k in range(len(point)) if not math.isnan(point[k]) and not math.isnan(p[k])]
    p_holm = stats.holm([float(p[k]) if k in present else None for k in range(len(point))])
    ranks = {k: r for r, k in enumerate(sorted(present, key=lambda k: p[k]))}
    out: dict[str, list[Any]] = {"diff": [], "low": [], "high": [], "confidence": [], "p": [], "p_holm": [], "verdict": []}
    for k in range(len(point)):
        confidence = 1 - ALPHA / (len(present) - ranks[k]) if k in ranks else NAN
        interval = bootstrap.percentile_interval(float(point[k]), samples[:, k], confidence) if k in ranks else None
        adjusted = NAN if p_holm[k] is None else p_holm[k]
        better = point[k] > 0 if mode == "max" else point[k] < 0
        out["diff"].append(float(point[k]))
        out["low"].append(interval.low if interval else NAN)
        out["high"].append(interval.high if interval else NAN)
        out["confidence"].append(confidence)
        out["p"].append(float(p[k]))
        out["p_holm"].append(adjusted)
        out["verdict"].append(("gained" if better else "lost") if adjusted < ALPHA else "")
    return out


def class_names(runs: list[Any], count: int) -> list[str]:
    """The data's class names (data_info.json of the first run that saved one), else the class numbers."""
    for run in runs:
        info = read_data_info(run)
        if info is not None and len(info.class_names) >= count:
            return list(info.class_names)[:count]
    return [str(k) for k in range(count)]


def class_table(found: list[Any], metric: str, mode: str, seed_of: Any) -> tuple[Optional[ClassTable], list[str]]:
    """The per-class table of ``metric`` over the families ``found`` (compare.Family), and notes on the groups
    left out; None when records cannot recompute the metric per class, or no run kept them."""
    parsed = split_and_metric(metric)
    if parsed is None or parsed[1] not in records.CLASS_METRICS:
        return None, []
    split, bare = parsed
    loaded: dict[str, list[records.Records]] = {}
    notes = []
    every = [g for f in found for g in f.groups]
    for group in every:
        kept = [records.read(r.dir, split) for r in one_run_per_seed(group.runs, seed_of)]
        if any(r is None or records.metric_function(r, bare, per_class=True) is None for r in kept):
            notes.append(f"No per-class {split} records for {metric} in {group.label} (runs evaluated before vislab kept "
                         f"each image's class; vislab eval RUN --split {split} writes them): not in the per-class table.")
        elif bootstrap.same_images(kept) is not None:
            notes.append(f"The runs of {group.label} were evaluated on different {split} images: not in the per-class table.")
        else:
            loaded[group.label] = kept
    if not loaded:
        return None, notes
    fn = records.metric_function(next(iter(loaded.values()))[0], bare, per_class=True)
    rows = [row for family in found for row in family_rows(family, loaded, fn, mode)]
    names = class_names([r for g in every for r in g.runs], max(len(r.values) for r in rows))
    return ClassTable(metric, names, rows), notes


def family_rows(family: Any, loaded: dict[str, list[records.Records]], fn: records.Metric, mode: str) -> list[ClassRow]:
    """The rows of a family's groups with records, its baseline first and the others compared with it."""
    base = loaded.get(family.baseline.label) if family.baseline is not None else None
    ordered = [family.baseline, *(g for g in family.groups if g is not family.baseline)] if base is not None else family.groups
    rows = []
    for group in ordered:
        runs = loaded.get(group.label)
        if runs is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a class no run has images of: NaN
            values = np.nanmean(np.stack([fn(r, np.ones((1, len(r["index"]))))[0] for r in runs]), axis=0)
        row = ClassRow(group.label, family.baseline.label if base is not None else "", values.tolist())
        if base is not None and group is not family.baseline and bootstrap.same_images([*runs, *base]) is None:
            for key, value in class_differences(runs, base, fn, mode).items():
                setattr(row, key, value)
        rows.append(row)
    return rows
