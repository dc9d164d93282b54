"""What the training split holds before it trains: ``data.exclude`` leaves listed images out, ``data.folds``
and ``data.fold`` hold one fold of it out for cross-validation (``vislab crossval``).

Folds are stratified by class and drawn from ``data.split_seed`` (fixed across training seeds), so the K
runs of a cross-validation see disjoint held-out folds that together cover the training split once; the
held-out fold is ``DataBundle.heldout`` and gets the run's out-of-fold predictions. Validation and test
are untouched: each fold's run picks its best epoch on the same validation split and is tested on the same
test split. Training images are named as splits/train.txt names them: their file names, or their
positions in the training split for datasets without files (digits, MNIST).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ...config import DataConfig
from ...errors import VislabError
from ..bundle import DataBundle
from .class_balance import class_labels
from .labeled import subset
from .seeding import mix_seed

_FOLD_STREAM = 3  # mixed into split_seed so the folds are not the train/val draw


def training_names(bundle: DataBundle) -> list[str]:
    """The name of every training image: its file, or its position for data without files."""
    return bundle.files.get("train") or [str(i) for i in range(len(bundle.train))]


def fold_of(labels: Optional[Sequence[int]], size: int, folds: int, seed: int) -> np.ndarray:
    """The fold (0..folds-1) of each of ``size`` training samples: each class dealt round-robin over the
    folds in a seeded order (stratified), or without ``labels`` the samples themselves."""
    rng = np.random.default_rng(mix_seed(seed, _FOLD_STREAM))
    keys = np.zeros(size, dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    out = np.empty(size, dtype=np.int64)
    start = 0
    for cls in np.unique(keys):
        members = rng.permutation(np.flatnonzero(keys == cls))
        out[members] = (start + np.arange(len(members))) % folds
        start = (start + len(members)) % folds  # the next class continues the deal: fold sizes differ by one at most
    return out


def held_out(bundle: DataBundle, cfg: DataConfig) -> DataBundle:
    """With ``data.folds``, the bundle trained on every fold but ``data.fold``, that fold as ``heldout``
    (files["heldout"] names it); without, the bundle itself."""
    if cfg.folds is None:
        if cfg.fold != 0:
            raise VislabError(f"data.fold={cfg.fold} applies only with data.folds=K (cross-validation); set data.fold=0")
        return bundle
    if cfg.fold >= cfg.folds:
        raise VislabError(f"data.fold={cfg.fold}: the folds of data.folds={cfg.folds} are 0 to {cfg.folds - 1}")
    if len(bundle.train) < cfg.folds:
        raise VislabError(f"data.folds={cfg.folds}: the training split has only {len(bundle.train)} images; "
                          "lower data.folds")
    folds = fold_of(class_labels(bundle.train, bundle.info.task), len(bundle.train), cfg.folds, cfg.split_seed)
    keep, out = np.flatnonzero(folds != cfg.fold), np.flatnonzero(folds == cfg.fold)
    names = training_names(bundle)
    files = {**bundle.files, "train": [names[i] for i in keep], "heldout": [names[i] for i in out]}
    note = (f"cross-validation fold {cfg.fold} of {cfg.folds} (data.split_seed={cfg.split_seed}): {len(keep)} training "
            f"images, {len(out)} held out for out-of-fold predictions")
    return dataclasses.replace(bundle, train=subset(bundle.train, keep), heldout=subset(bundle.train, out), files=files,
                               notes=[*bundle.notes, note])


def excluded(bundle: DataBundle, cfg: DataConfig) -> DataBundle:
    """With ``data.exclude``, the bundle without the training images its file lists (one name a line, as
    splits/train.txt or the file column of ``vislab data issues`` names them; blank lines and # comments
    skipped); a name that is no training image is bad input."""
    if cfg.exclude is None:
        return bundle
    listed = exclude_list(cfg.exclude)
    names = training_names(bundle)
    unknown = sorted(set(listed) - set(names))
    if unknown:
        raise VislabError(f"data.exclude={cfg.exclude} lists {len(unknown)} names that are not training images of "
                          f"data.name={cfg.name} (first: {unknown[0]}); list names as splits/train.txt of a run gives them")
    drop = set(listed)
    keep = np.array([i for i, n in enumerate(names) if n not in drop], dtype=np.int64)
    if not len(keep):
        raise VislabError(f"data.exclude={cfg.exclude} lists every training image; nothing would be left to train on")
    files = {**bundle.files, "train": [names[i] for i in keep]}
    note = f"data.exclude: {len(drop)} training images left out, {len(keep)} train"
    return dataclasses.replace(bundle, train=subset(bundle.train, keep), files=files, notes=[*bundle.notes, note])


def exclude_list(path: str) -> list[str]:
    """The names a ``data.exclude`` file lists; a missing file is bad input."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise VislabError(f"data.exclude={path} is not a file; give a text file with one training image name a line")
    lines = (line.strip() for line in file.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]
