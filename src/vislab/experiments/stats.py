"""The statistics behind `vislab compare`: means with Student-t intervals, differences from a baseline
(paired t-test over matching seeds, Welch's t-test otherwise), Holm's correction, and a verdict.

Small samples are the rule here (three to five seeds), so every interval uses the t distribution,
and a group of one run gets no interval and no p-value rather than a made-up one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

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


def estimate(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean, standard deviation (n-1) and the Student-t interval of the mean."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else NAN
    if n < 2:
        return Estimate(n, mean, NAN, NAN, NAN)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Estimate(n, mean, std, mean - half, mean + half)


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Difference:
    """Paired t-test of ``a - b`` (same seeds in the same order), with its interval."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(d)
    se = float(d.std(ddof=1)) / math.sqrt(n)
    return _t_result(float(d.mean()), se, n - 1, confidence, "paired")


def welch_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Difference:
    """Welch's t-test of mean(a) - mean(b) (unequal variances), with the Welch-Satterthwaite degrees of freedom."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else float(len(a) + len(b) - 2)
    return _t_result(float(a.mean() - b.mean()), se, float(df), confidence, "welch")


def _t_result(diff: float, se: float, df: float, confidence: float, test: str) -> Difference:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.float64(diff) / np.float64(se)  # a difference with zero spread gives t = +-inf (p = 0), as scipy does
    p = float(2 * stats.t.sf(abs(t), df)) if not math.isnan(t) else NAN
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return Difference(diff, diff - half, diff + half, p, test, df)


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
