"""Aggregates over tasks, datasets or domains with stratified bootstrap intervals, as rliable computes them
(Agarwal et al., "Deep RL at the Edge of the Statistical Precipice", NeurIPS 2021).

A method has scores[stratum] = its values over seeds on that dataset (or domain). The aggregates:
  IQM      the interquartile mean of all its scores (the mean of the middle 50%: robust, yet efficient)
  mean     the mean over strata of each stratum's mean
  median   the median over strata of each stratum's mean
  P(X > Y) the probability of improvement: for a random stratum, the chance that a run of X beats a run of Y
           (the Mann-Whitney statistic, ties counted half), averaged over strata
Intervals resample runs with replacement within each stratum (the stratified bootstrap), 2.5 and 97.5
percentiles. Scores are not normalized: aggregate metrics on the same scale (accuracies, mIoU).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats

RESAMPLES = 2000

Scores = Sequence[np.ndarray]  # one array of run values per stratum: [runs] (or [resamples, runs] when resampled)


def iqm(scores: Scores) -> np.ndarray:
    return stats.trim_mean(np.concatenate(scores, axis=-1), 0.25, axis=-1)


def mean(scores: Scores) -> np.ndarray:
    return np.mean([s.mean(axis=-1) for s in scores], axis=0)


def median(scores: Scores) -> np.ndarray:
    return np.median([s.mean(axis=-1) for s in scores], axis=0)


AGGREGATES: dict[str, Callable[[Scores], np.ndarray]] = {"IQM": iqm, "mean": mean, "median": median}


def probability_of_improvement(x: Scores, y: Scores) -> np.ndarray:
    """P(X > Y) averaged over strata: per stratum, the share of (x run, y run) pairs where x is higher (ties: half)."""
    per_stratum = []
    for a, b in zip(x, y):
        a, b = a[..., :, None], b[..., None, :]
        per_stratum.append((a > b).mean(axis=(-2, -1)) + 0.5 * (a == b).mean(axis=(-2, -1)))
    return np.mean(per_stratum, axis=0)


def resample(scores: Scores, rng: np.random.Generator, resamples: int) -> list[np.ndarray]:
    """[resamples, runs] per stratum: runs drawn with replacement within each stratum (each keeps its count)."""
    return [s[rng.integers(0, len(s), (resamples, len(s)))] for s in scores]


@dataclass(frozen=True)
class Bootstrapped:
    """A statistic of the runs (``value``) and its stratified-bootstrap percentile interval [``low``, ``high``]
    (stats.Estimate is a mean over seeds and its t interval)."""

    value: float
    low: float
    high: float


def interval(statistic: Callable[..., np.ndarray], *methods: Scores, resamples: int = RESAMPLES, seed: int = 0,
             confidence: float = 0.95) -> Bootstrapped:
    """``statistic(*methods)`` with its stratified-bootstrap percentile interval (each method resampled on its own)."""
    rng = np.random.default_rng(seed)
    draws = statistic(*(resample(m, rng, resamples) for m in methods))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Bootstrapped(float(statistic(*methods)), float(low), float(high))


@dataclass
class AggregateRow:
    """One method's aggregates over the strata (the baseline's ``improvement`` is empty)."""

    method: str
    strata: int
    runs: int
    aggregates: dict[str, Bootstrapped]
    improvement: Bootstrapped | None  # P(method > baseline), or P(method < baseline) for a metric where lower is better


def aggregate_table(methods: dict[str, dict[str, np.ndarray]], baseline: str, mode: str) -> list[AggregateRow]:
    """Rows for ``methods[label][stratum] = run values``, baseline first, over the strata every method has."""
    strata = sorted(set.intersection(*(set(m) for m in methods.values())))
    sign = 1.0 if mode == "max" else -1.0
    base = [methods[baseline][s] * sign for s in strata]
    rows = []
    for label in [baseline, *(m for m in methods if m != baseline)]:
        scores = [methods[label][s] for s in strata]
        found = {name: interval(fn, scores) for name, fn in AGGREGATES.items()}
        better = None if label == baseline else interval(probability_of_improvement, [s * sign for s in scores], base)
        rows.append(AggregateRow(label, len(strata), sum(len(s) for s in scores), found, better))
    return rows
