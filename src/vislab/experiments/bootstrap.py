"""The second source of noise: which test images were drawn. Bootstrap over images from per-sample records.

Seeds say how much a result moves when training is repeated; the bootstrap says how much it would move
with another test set of the same size. Both use the same resampled images for every run of a group, and
the paired bootstrap uses them for both groups too, so the difference of two groups on the same test images
is not blurred by the images' own difficulty (Efron & Tibshirani 1993, ch. 13; the percentile interval).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from ..records import Records

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


Metric = Callable[[Records, np.ndarray], np.ndarray]


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
    return _interval(point, np.concatenate(means), confidence), float(np.nanmean(np.nanstd(np.concatenate(singles), axis=0, ddof=1)))


def paired_interval(group: Sequence[Records], baseline: Sequence[Records], metric: Metric, confidence: float = 0.95,
                    resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """Mean(group) - mean(baseline) with a paired bootstrap interval: both resampled with the same images."""
    n = len(group[0]["index"])
    one = np.ones((1, n))
    point = float(np.mean(_group_values(group, metric, one)) - np.mean(_group_values(baseline, metric, one)))
    diffs = [
        np.nanmean(_group_values(group, metric, w), axis=1) - np.nanmean(_group_values(baseline, metric, w), axis=1)
        for w in weights(n, resamples, seed)
    ]
    return _interval(point, np.concatenate(diffs), confidence)


def _interval(point: float, samples: np.ndarray, confidence: float) -> Interval:
    tail = 100 * (1 - confidence) / 2
    low, high = np.nanpercentile(samples, [tail, 100 - tail])
    return Interval(point, float(low), float(high), float(np.nanstd(samples, ddof=1)))


def same_images(runs: Sequence[Records]) -> Optional[str]:
    """None when every run's records cover the same images in the same order, else what differs."""
    first = runs[0]["index"]
    for r in runs[1:]:
        if len(r["index"]) != len(first) or not np.array_equal(r["index"], first):
            return f"{len(r['index'])} images vs {len(first)}, or other images"
    return None
