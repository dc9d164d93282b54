"""The statistics behind `vislab compare`: means with Student-t intervals, differences from a baseline
(paired t-test over matching seeds, Welch's t-test otherwise), Holm's correction, and a verdict.

Small samples are the rule here (three to five seeds), so every interval uses the t distribution,
and a group of one run gets no interval and no p-value rather than a made-up one. Nor does a difference
without spread (every seed moved by the same amount): its t statistic is infinite and its interval of
zero width, certainty that two or three seeds cannot give. Intervals of metrics bounded in [0, 1]
(``bounds`` decides which) are clipped to that range, differences of them to [-1, 1].
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

import numpy as np
from scipy import stats

NAN = float("nan")


@dataclass(frozen=True)
class Estimate:
    """A group's mean with its sample standard deviation and confidence interval (NaN below two runs)."""

    n: int
    mean: float
    std: float
    low: float
    high: float


@dataclass(frozen=True)
class Difference:
    """Group minus baseline: the difference of means, its interval, the two-sided p-value and the test used."""

    diff: float
    low: float
    high: float
    p: float
    test: str  # "paired", "welch", or "none": no test (``why`` says why)
    df: float = NAN
    sd: float = NAN  # the spread that sets the power: of the per-seed differences (paired), else of one run
    why: str = ""  # with test "none": why there is no interval and no p-value


# Metrics whose values lie in [0, 1] by definition, by their bare name (no split or ema_ prefix): the name
# itself, or the name and a suffix (acc_<domain>, iou_<class>, pq_things).
UNIT_METRICS = ("acc", "balanced_acc", "top5", "macro_f1", "f1", "ece", "precision", "recall", "miou", "iou", "pixel_acc", "mean_acc",
                "pq", "sq", "rq", "things_split", "dice")
PREFIXES = ("train_", "val_", "test_", "ema_")


def bounds(metric: str) -> Optional[tuple[float, float]]:
    """(0, 1) for a metric bounded in [0, 1] (val_acc, test_miou, val_ema_pq_things, ...), None otherwise
    (losses, times): the one place that decides which intervals are clipped."""
    bare = metric
    for prefix in PREFIXES:
        bare = bare[len(prefix):] if bare.startswith(prefix) else bare
    return (0.0, 1.0) if any(bare == m or bare.startswith(m + "_") for m in UNIT_METRICS) else None


def difference_bounds(value_bounds: Optional[tuple[float, float]]) -> Optional[tuple[float, float]]:
    """The range of a difference of two values in ``value_bounds``: [low - high, high - low]."""
    return None if value_bounds is None else (value_bounds[0] - value_bounds[1], value_bounds[1] - value_bounds[0])


def clip(low: float, high: float, limits: Optional[tuple[float, float]]) -> tuple[float, float]:
    """An interval cut to ``limits`` (unchanged without limits, or NaN)."""
    if limits is None:
        return low, high
    return float(np.clip(low, *limits)), float(np.clip(high, *limits))


def no_spread(values: Sequence[float]) -> bool:
    """Whether values are equal up to the rounding of float32, in which metrics are computed (about 6e-8 near 1:
    two accuracies that differ by +0.1037 each give differences 6e-8 apart, a t-test's p of 1.8e-07)."""
    x = np.asarray(values, dtype=float)
    return bool(np.ptp(x) <= 1e-6 * max(1.0, float(np.abs(x).max())))


def estimate(values: Sequence[float], confidence: float = 0.95, limits: Optional[tuple[float, float]] = None) -> Estimate:
    """Mean, standard deviation (n-1) and the Student-t interval of the mean (scipy's one-sample t interval),
    clipped to ``limits`` (``bounds`` of the metric)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else NAN
    if n < 2:
        return Estimate(n, mean, NAN, NAN, NAN)
    with _quiet():
        ci = stats.ttest_1samp(x, 0.0).confidence_interval(confidence)
    return Estimate(n, mean, float(x.std(ddof=1)), *clip(float(ci.low), float(ci.high), limits))


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95,
                      limits: Optional[tuple[float, float]] = None) -> Difference:
    """Paired t-test of ``a - b`` (same seeds in the same order), with its interval (scipy's ttest_rel) clipped
    to ``limits``; no test when the differences have no spread."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float((a - b).mean())
    if no_spread(a - b):
        return Difference(diff, NAN, NAN, NAN, "none", why=f"cannot tell: differences have no spread over {len(a)} seeds")
    with _quiet():
        result = stats.ttest_rel(a, b)
    return _difference(diff, result, confidence, "paired", float((a - b).std(ddof=1)), limits)


def welch_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95,
                     limits: Optional[tuple[float, float]] = None) -> Difference:
    """Welch's t-test of mean(a) - mean(b) (unequal variances; scipy's ttest_ind with equal_var=False), its interval
    clipped to ``limits``; no test when neither side has spread."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a.mean() - b.mean())
    if no_spread(a) and no_spread(b):
        return Difference(diff, NAN, NAN, NAN, "none",
                          why=f"cannot tell: values have no spread over {len(a)} and {len(b)} seeds")
    with _quiet():
        result = stats.ttest_ind(a, b, equal_var=False)
    sd = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    return _difference(diff, result, confidence, "welch", sd, limits)


def _difference(diff: float, result: Any, confidence: float, test: str, sd: float,
                limits: Optional[tuple[float, float]]) -> Difference:
    with _quiet():
        ci = result.confidence_interval(confidence)
    low, high = clip(float(ci.low), float(ci.high), limits)
    return Difference(diff, low, high, float(result.pvalue), test, float(result.df), sd)


@contextmanager
def _quiet() -> Iterator[None]:
    """scipy warns about identical values (catastrophic cancellation); seeds that agree exactly are a valid result."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def difference(
    group: Sequence[tuple[object, float]], baseline: Sequence[tuple[object, float]], confidence: float = 0.95,
    limits: Optional[tuple[float, float]] = None,
) -> Difference:
    """Compare (seed, value) pairs with the baseline's: paired when both ran exactly the same seeds, else Welch;
    ``limits``: the metric's ``bounds`` (the interval is clipped to the range of a difference).

    A side with a single run gives only the difference of means, with no interval and no p-value.
    """
    a = [v for _, v in group]
    b = [v for _, v in baseline]
    if len(a) < 2 or len(b) < 2:
        return Difference(float(np.mean(a) - np.mean(b)), NAN, NAN, NAN, "none", why="no p-value: one run")
    limits = difference_bounds(limits)
    seeds_a, seeds_b = dict(group), dict(baseline)
    if len(seeds_a) == len(a) and len(seeds_b) == len(b) and seeds_a.keys() == seeds_b.keys():
        order = sorted(seeds_a, key=repr)
        return paired_difference([seeds_a[s] for s in order], [seeds_b[s] for s in order], confidence, limits)
    return welch_difference(a, b, confidence, limits)


def holm(pvalues: Sequence[Optional[float]]) -> list[Optional[float]]:
    """Holm-Bonferroni adjusted p-values, in the input order; None and NaN stay out of the family."""
    valid = [i for i, p in enumerate(pvalues) if p is not None and not math.isnan(p)]
    m = len(valid)
    adjusted: list[Optional[float]] = [None if p is None else (NAN if math.isnan(p) else p) for p in pvalues]
    running = 0.0
    for rank, i in enumerate(sorted(valid, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def verdict(diff: float, p_adjusted: Optional[float], mode: str, alpha: float = 0.05) -> str:
    """'better', 'worse' or 'no detectable difference'; ``mode`` says whether higher (max) or lower (min) is better."""
    if p_adjusted is None or math.isnan(p_adjusted) or p_adjusted >= alpha:
        return "no detectable difference"
    improved = diff > 0 if mode == "max" else diff < 0
    return "better" if improved else "worse"
