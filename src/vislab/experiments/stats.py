"""The statistics behind `vislab compare`: means with Student-t intervals, differences from a baseline
(paired t-test over matching seeds, Welch's t-test otherwise), Holm's correction, and a verdict.

Small samples are the rule here (three to five seeds), so every interval uses the t distribution,
and a group of one run gets no interval and no p-value rather than a made-up one.
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
    test: str  # "paired", "welch", or "none" when a side has a single run
    df: float = NAN
    sd: float = NAN  # the spread that sets the power: of the per-seed differences (paired), else of one run


def estimate(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean, standard deviation (n-1) and the Student-t interval of the mean (scipy's one-sample t interval)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else NAN
    if n < 2:
        return Estimate(n, mean, NAN, NAN, NAN)
    with _quiet():
        ci = stats.ttest_1samp(x, 0.0).confidence_interval(confidence)
    return Estimate(n, mean, float(x.std(ddof=1)), float(ci.low), float(ci.high))


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Difference:
    """Paired t-test of ``a - b`` (same seeds in the same order), with its interval (scipy's ttest_rel)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with _quiet():
        result = stats.ttest_rel(a, b)
    return _difference(float((a - b).mean()), result, confidence, "paired", float((a - b).std(ddof=1)))


def welch_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Difference:
    """Welch's t-test of mean(a) - mean(b) (unequal variances; scipy's ttest_ind with equal_var=False)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with _quiet():
        result = stats.ttest_ind(a, b, equal_var=False)
    sd = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    return _difference(float(a.mean() - b.mean()), result, confidence, "welch", sd)


def _difference(diff: float, result: Any, confidence: float, test: str, sd: float) -> Difference:
    # A difference with zero spread gives t = +-inf and p = 0, and a zero-width interval.
    with _quiet():
        ci = result.confidence_interval(confidence)
    return Difference(diff, float(ci.low), float(ci.high), float(result.pvalue), test, float(result.df), sd)


@contextmanager
def _quiet() -> Iterator[None]:
    """scipy warns about identical values (catastrophic cancellation); seeds that agree exactly are a valid result."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def difference(
    group: Sequence[tuple[object, float]], baseline: Sequence[tuple[object, float]], confidence: float = 0.95
) -> Difference:
    """Compare (seed, value) pairs with the baseline's: paired when both ran exactly the same seeds, else Welch.

    A side with a single run gives only the difference of means, with no interval and no p-value.
    """
    a = [v for _, v in group]
    b = [v for _, v in baseline]
    if len(a) < 2 or len(b) < 2:
        return Difference(float(np.mean(a) - np.mean(b)), NAN, NAN, NAN, "none")
    seeds_a, seeds_b = dict(group), dict(baseline)
    if len(seeds_a) == len(a) and len(seeds_b) == len(b) and seeds_a.keys() == seeds_b.keys():
        order = sorted(seeds_a, key=repr)
        return paired_difference([seeds_a[s] for s in order], [seeds_b[s] for s in order], confidence)
    return welch_difference(a, b, confidence)


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
