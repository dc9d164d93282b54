"""The second source of noise: which test images were drawn. Bootstrap over images from per-sample records.

Seeds say how much a result moves when training is repeated; the bootstrap says how much it would move
with another test set of the same size. Both use the same resampled images for every run of a group, and
the paired bootstrap uses them for both groups too, so the difference of two groups on the same test images
is not blurred by the images' own difficulty (Efron & Tibshirani 1993, ch. 13; the percentile interval).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np

from ...records import Metric, Records

RESAMPLES = 2000
CHUNK = 250  # resamples per weight matrix (CHUNK x N floats at a time)


@dataclass(frozen=True)
class Interval:
    """A bootstrap estimate: the point value, its percentile interval and the bootstrap standard deviation."""

    value: float
    low: float
    high: float
    std: float


def weights(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap weights [chunk, n]: how often each of n images was drawn (n draws with replacement)."""
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, CHUNK):
        b = min(CHUNK, resamples - start)
        draws = rng.integers(0, n, size=(b, n)) + np.arange(b)[:, None] * n
        yield np.bincount(draws.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)



def _group_values(runs: Sequence[Records], metric: Metric, w: np.ndarray) -> np.ndarray:
    """[B, runs]: the metric of each run under each resample."""
    return np.stack([metric(r, w) for r in runs], axis=1)


def group_interval(runs: Sequence[Records], metric: Metric, confidence: float = 0.95, resamples: int = RESAMPLES,
                   seed: int = 0) -> tuple[Interval, float]:
    """The group's mean metric over its runs with a bootstrap interval over test images, and the bootstrap
    standard deviation of one run's metric (averaged over runs): the image-sampling noise of a single run."""
    n = len(runs[0]["index"])
    point = float(np.mean(_group_values(runs, metric, np.ones((1, n)))))
    means, singles = [], []
    for w in weights(n, resamples, seed):
        values = _group_values(runs, metric, w)
        means.append(np.nanmean(values, axis=1))
        singles.append(values)
    return percentile_interval(point, np.concatenate(means), confidence), float(np.nanmean(np.nanstd(np.concatenate(singles), axis=0, ddof=1)))


def paired_interval(group: Sequence[Records], baseline: Sequence[Records], metric: Metric, confidence: float = 0.95,
                    resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """Mean(group) - mean(baseline) with a paired bootstrap interval: both resampled with the same images."""
    point, samples = paired_samples(group, baseline, metric, resamples, seed)
    return percentile_interval(float(point[0]), samples, confidence)


def paired_samples(group: Sequence[Records], baseline: Sequence[Records], metric: Metric, resamples: int = RESAMPLES,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean(group) - mean(baseline) over their runs on every image [1, ...], and the same under each paired
    resample of the images [resamples, ...] (``...``: the metric's own shape, e.g. K classes; NaN where a
    value is missing from every run, as a class absent from the resampled images)."""
    n = len(group[0]["index"])

    def diff(w: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a mean over runs that all lack the value: NaN
            return np.nanmean(_group_values(group, metric, w), axis=1) - np.nanmean(_group_values(baseline, metric, w), axis=1)

    return diff(np.ones((1, n))), np.concatenate([diff(w) for w in weights(n, resamples, seed)])


def percentile_interval(point: float, samples: np.ndarray, confidence: float) -> Interval:
    """The percentile interval of bootstrap ``samples`` [resamples] around ``point``."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.nanpercentile(samples, [tail, 100 - tail])
    return Interval(point, float(low), float(high), float(np.nanstd(samples, ddof=1)))


def bootstrap_p(samples: np.ndarray) -> np.ndarray:
    """Two-sided p-values [...] that the differences' centre is 0, from bootstrap ``samples`` [resamples, ...]:
    twice the smaller share of resamples on either side of 0 (each share counted as (k + 1) / (B + 1), so
    no p-value is 0), at most 1; NaN where every sample is NaN. It is the smallest 1 - confidence at which the
    percentile interval leaves 0 out."""
    count = np.sum(~np.isnan(samples), axis=0)
    below, above = (np.sum(side, axis=0) for side in (samples <= 0, samples >= 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2 * (np.minimum(below, above) + 1) / (count + 1)
    return np.where(count > 0, np.minimum(p, 1.0), np.nan)


def same_images(runs: Sequence[Records]) -> Optional[str]:
    """None when every run's records cover the same images in the same order, else what differs."""
    first = runs[0]["index"]
    for r in runs[1:]:
        if len(r["index"]) != len(first) or not np.array_equal(r["index"], first):
            return f"{len(r['index'])} images vs {len(first)}, or other images"
    return None
