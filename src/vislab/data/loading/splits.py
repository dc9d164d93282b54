"""Seeded splits and the data root."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ...errors import VislabError


def data_root(root: Optional[str]) -> Path:
    """``data.root``, else $VISLAB_DATA, else ~/.cache/vislab/data."""
    return Path(root or os.environ.get("VISLAB_DATA") or "~/.cache/vislab/data").expanduser()


def user_folder(name: str, root: Optional[str], holding: str) -> Path:
    """``data.root`` of a dataset the user brings (folder, pairs): it must be given and be a folder."""
    if root is None:
        raise VislabError(f"data.name={name} needs data.root=PATH, {holding}")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise VislabError(f"data.root={path} is not a folder")
    return path


def stratified_split(
    labels: Sequence[int], val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train, val and test, each class split in the same proportions, each split shuffled.

    ``labels`` may be any hashable per sample (a class, or a (domain, class) pair). Every class with at
    least two samples keeps one in training; rounding gives the rest to the held-out parts.
    """
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise VislabError(
            f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} must be in [0, 1) and sum below 1"
        )
    rng = np.random.default_rng(seed)
    keys = [tuple(x) if isinstance(x, (list, tuple, np.ndarray)) else x for x in labels]
    groups: dict = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    train, val, test = [], [], []
    for key in sorted(groups, key=repr):
        idx = np.array(groups[key])
        rng.shuffle(idx)
        n = len(idx)
        n_test = int(round(n * test_fraction))
        n_val = int(round(n * val_fraction))
        if n > 1 and n_test + n_val >= n:
            n_val = max(0, n - 1 - n_test)
        test.extend(idx[:n_test])
        val.extend(idx[n_test : n_test + n_val])
        train.extend(idx[n_test + n_val :])
    return tuple(rng.permutation(np.array(part, dtype=np.int64)) for part in (train, val, test))  # type: ignore[return-value]


def limited(indices: np.ndarray, limit: Optional[int]) -> np.ndarray:
    """The first ``limit`` indices (splits are already shuffled, so this is a random subset)."""
    return indices if limit is None else indices[:limit]
