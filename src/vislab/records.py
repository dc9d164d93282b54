"""Per-sample records of an evaluated split: ``records/<split>.npz`` in the run directory.

They let `vislab compare` measure the second source of noise, the choice of test images, by resampling
images (bootstrap) instead of seeds. Each array has one row per image, in dataset-index order:

    index            int64[N]       the image's index in the split (the same images across runs can be checked)
    label            int32[N]       classification, domain generalization: the image's class (older runs lack it)
    correct          bool[N]        classification, domain generalization: top-1 prediction right
    confidence       float16[N]     the top-1 probability
    domain           int16[N]       domain generalization: the image's domain
    intersection     int64[N, C]    segmentation: per class, pixels in prediction and truth
    union            int64[N, C]    segmentation: pixels in prediction or truth (ignore_index left out)
    pq_tp, pq_fp, pq_fn   int32[N, C]    panoptic: matched, unmatched predicted and unmatched true segments
    pq_iou           float32[N, C]  panoptic: the IoU summed over the matched segments

A metric is a function of these rows summed over the images (a ratio of sums), so resampling images is a
matrix product with bootstrap weights; ``METRICS`` names the ones the records can recompute, ``CLASS_METRICS``
the same per class (accuracy of each class's images, IoU, PQ), whose means over the classes present give miou
and pq.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np

from .atomic import atomic_write

Records = dict[str, np.ndarray]


def records_path(run_dir: Path, split: str, checkpoint: str = "best") -> Path:
    """records/<split>.npz for best.pt (what compare reads), records/<split>-last.npz for last.pt."""
    return Path(run_dir) / "records" / (f"{split}.npz" if checkpoint == "best" else f"{split}-{checkpoint}.npz")


def write(run_dir: Path, split: str, batches: Iterable[dict[str, Any]], checkpoint: str = "best") -> Optional[Path]:
    """Concatenate per-batch records (arrays or tensors), sort them by image index and write them atomically.

    Returns the path, or None when the task keeps no records (its first batch is an empty dict).
    """
    parts: dict[str, list[np.ndarray]] = {}
    for batch in batches:
        if not batch:
            return None
        for key, value in batch.items():
            parts.setdefault(key, []).append(np.asarray(value.detach().cpu()) if hasattr(value, "detach") else np.asarray(value))
    if not parts:
        return None
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    order = np.argsort(arrays["index"], kind="stable")
    arrays = {k: v[order] for k, v in arrays.items()}
    path = records_path(run_dir, split, checkpoint)
    path.parent.mkdir(exist_ok=True)

    def save(f: io.BufferedWriter) -> None:
        np.savez_compressed(f, **arrays)

    atomic_write(path, save)
    return path


def read(run_dir: Path, split: str, checkpoint: str = "best") -> Optional[Records]:
    """The records of a split, or None when the run has none (older runs, or a task without records)."""
    path = records_path(run_dir, split, checkpoint)
    if not path.is_file():
        return None
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


# ----------------------------------------------------------------------------------------------
# Metrics from summed rows: each takes the per-image rows weighted by w [B, N] and gives [B] values
# ----------------------------------------------------------------------------------------------


def _ratio(num: np.ndarray, denom: np.ndarray) -> np.ndarray:
    """num / denom, NaN where denom is 0 (a class absent from the sample)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, num / denom, np.nan)


def _class_mean(values: np.ndarray) -> np.ndarray:
    """[B] means over the classes [B, K] present (not NaN); NaN, without a warning, where none is."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=1)


def _acc(r: Records, w: np.ndarray) -> np.ndarray:
    return w @ r["correct"].astype(np.float64) / w.sum(1)


def _class_acc(r: Records, w: np.ndarray) -> np.ndarray:
    """[B, K]: the accuracy over each class's images (K: up to the largest class among them)."""
    members = (r["label"][:, None] == np.arange(int(r["label"].max()) + 1)).astype(np.float64)
    return _ratio(w @ (members * r["correct"][:, None]), w @ members)


def _class_iou(r: Records, w: np.ndarray) -> np.ndarray:
    return _ratio(w @ r["intersection"].astype(np.float64), w @ r["union"].astype(np.float64))


def _class_pq(r: Records, w: np.ndarray) -> np.ndarray:
    tp, fp, fn = (w @ r[k].astype(np.float64) for k in ("pq_tp", "pq_fp", "pq_fn"))
    return _ratio(w @ r["pq_iou"].astype(np.float64), tp + 0.5 * fp + 0.5 * fn)


def _miou(r: Records, w: np.ndarray) -> np.ndarray:
    return _class_mean(_class_iou(r, w))


def _pq(r: Records, w: np.ndarray) -> np.ndarray:
    return _class_mean(_class_pq(r, w))


Metric = Callable[[Records, np.ndarray], np.ndarray]
METRICS: dict[str, tuple[str, Metric]] = {
    "acc": ("correct", _acc),
    "miou": ("intersection", _miou),
    "pq": ("pq_tp", _pq),
}
# The same metrics per class [B, K], and the row they need: accuracy per class needs each image's class.
CLASS_METRICS: dict[str, tuple[str, Metric]] = {
    "acc": ("label", _class_acc),
    "miou": ("intersection", _class_iou),
    "pq": ("pq_tp", _class_pq),
}


def metric_function(records: Records, metric: str, per_class: bool = False) -> Optional[Metric]:
    """The recomputing function for a bare metric name (acc, miou, pq) when these records hold its rows: [B]
    values, or with ``per_class`` [B, K] values of each class."""
    entry = (CLASS_METRICS if per_class else METRICS).get(metric)
    return entry[1] if entry is not None and entry[0] in records else None
