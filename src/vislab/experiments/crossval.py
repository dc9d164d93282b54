"""`vislab crossval RECIPE --folds K`: K runs on class-stratified folds of the training split, as one sweep
over ``data.fold`` (seeds as a sweep repeats them), and every training image's out-of-fold prediction.

    RUNS/sweeps/<name>/
      <recipe>/<time>-trial-0003/oof.csv   the run's class probabilities on the fold it did not train on
      oof.csv                              every training image once: file, label, fold, prob_<class>...
                                           (the mean over seeds), what `vislab data issues` reads

The sweep machinery runs, records and resumes the folds (``--resume`` after a kill continues the folds left and
predicts only for runs that have no oof.csv yet). The test split stays fixed and unseen: every fold's run
picks its best epoch on the same validation split and is tested on the same test split, so `vislab compare`
reads the runs like any sweep, the fold counted like a seed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .. import config as config_mod
from ..atomic import atomic_write_text
from ..errors import VislabError
from .sweep.driver import sweep
from .sweep.space import FOLD
from .sweep.study import Sweep
from .sweep.summary import failed_logs, resume_command

OOF = "oof.csv"
PROB = "prob_"  # the prefix of the class probability columns


@dataclass
class OutOfFold:
    """Out-of-fold predictions: ``files`` [N], given ``labels`` [N] (class ids), ``folds`` [N], ``probs``
    float [N, C] over ``class_names``."""

    files: list[str]
    labels: np.ndarray
    folds: np.ndarray
    probs: np.ndarray
    class_names: list[str]


def crossval(
    recipe: Optional[str | Path] = None, overrides: Optional[dict[str, Any]] = None, *, folds: Optional[int] = None,
    seeds: Optional[int] = None, name: Optional[str] = None, resume: bool = False, runs_dir: Optional[str | Path] = None,
    workers: int = 1, show: bool = True,
) -> tuple[Sweep, Optional[Path]]:
    """Train the ``folds`` folds of ``recipe`` (each over ``seeds`` seeds) as a sweep, then write each run's
    out-of-fold predictions and the sweep's oof.csv; returns the sweep and that file (None when a fold's run
    failed: see sweep.failed_logs). ``resume=True`` with ``name`` alone continues that cross-validation.
    Per-pixel work is bad input (its out-of-fold predictions would be per-pixel grids, which this version does
    not make)."""
    overrides = dict(overrides or {})
    if recipe is None:
        if not (resume and name) or folds is not None or overrides or seeds is not None:
            raise VislabError("name a recipe and --folds K (vislab crossval RECIPE --folds K ...), or continue one with "
                              "only --resume --name NAME")
        done = sweep(name=name, resume=True, runs_dir=runs_dir, workers=workers, show=show)
        if FOLD not in done.space.params:
            raise VislabError(f"sweep {name} is no cross-validation (it does not sweep {FOLD}); continue it with vislab sweep")
        return done, None if failed_logs(done) else write_out_of_fold(done)
    if folds is None or folds < 2:
        raise VislabError(f"--folds K must be at least 2, not {folds}" if folds is not None else "give --folds K (at least 2)")
    for key in ("data.folds", FOLD):
        if key in overrides:
            raise VislabError(f"{key} is set by crossval (--folds K runs folds 0..K-1); leave it out")
    check_per_image(recipe, overrides)
    done = sweep(recipe, {**overrides, "data.folds": folds}, {FOLD: list(range(folds))}, seeds=seeds, name=name,
                 resume=resume, runs_dir=runs_dir, workers=workers, show=show)
    return done, None if failed_logs(done) else write_out_of_fold(done)


def check_per_image(recipe: str | Path, overrides: dict[str, Any]) -> None:
    """Cross-validation predicts a class per image; per-pixel work is refused before anything is created."""
    from .. import data, tasks

    cfg = config_mod.resolve(recipe, overrides)
    kind = tasks.kind_of(cfg, data.build(cfg.data, cfg.aug).info)
    if kind.per_pixel:
        raise VislabError(f"crossval makes out-of-fold class probabilities per image; {kind.task} is per-pixel work, "
                          "which it does not cross-validate yet; use vislab sweep with data.folds=K data.fold=0,1,...")


def fold_runs(done: Sweep) -> list[Path]:
    """The run directories of the sweep's finished trials, in trial order."""
    from .sweep.workers import attempt_dir

    finished = [t for t in done.trials() if t.state.name == "COMPLETE"]
    return [path for t in finished for path in [attempt_dir(done, t)] if path is not None]


def write_out_of_fold(done: Sweep) -> Path:
    """Each finished run's oof.csv (made once), then the sweep's oof.csv: every training image with the mean
    of its out-of-fold probabilities over seeds. Folds not finished yet are bad input naming the resume."""
    runs = fold_runs(done)
    for run in runs:
        if not (run / OOF).is_file():
            write_csv(run / OOF, run_out_of_fold(run))
    parts = [read_oof(run / OOF) for run in runs]
    folds = sorted({int(p.folds[0]) for p in parts if len(p.folds)})
    if len(folds) < done.spec.base_config()["data"]["folds"]:
        raise VislabError(f"sweep {done.name} has out-of-fold predictions for folds {folds} only; finish it with: "
                          f"{resume_command(done)}")
    combined = mean_over_seeds(parts)
    write_csv(done.dir / OOF, combined)
    return done.dir / OOF


def run_out_of_fold(run: Path) -> OutOfFold:
    """The class probabilities of a fold's run (best.pt) on the fold it held out."""
    from ..inference import restore
    from ..voting import split_logits

    r = restore(run, "best")
    logits, targets, index = split_logits(r, "heldout", use="crossval's out-of-fold predictions need")
    names = r.bundle.files["heldout"]
    order = index.argsort()
    return OutOfFold([names[int(i)] for i in index[order]], targets[order].numpy(), np.full(len(order), r.cfg.data.fold),
                     logits[order].softmax(1).numpy(), list(r.info.class_names))


def mean_over_seeds(parts: list[OutOfFold]) -> OutOfFold:
    """One row per image: its probabilities averaged over the runs (seeds) that held it out."""
    by_file: dict[str, list[tuple[int, int, np.ndarray]]] = {}
    for p in parts:
        for f, y, k, q in zip(p.files, p.labels, p.folds, p.probs):
            by_file.setdefault(f, []).append((int(y), int(k), q))
    files = list(by_file)
    return OutOfFold(files, np.array([by_file[f][0][0] for f in files]), np.array([by_file[f][0][1] for f in files]),
                     np.stack([np.mean([q for _, _, q in by_file[f]], axis=0) for f in files]), parts[0].class_names)


def write_csv(path: Path, oof: OutOfFold) -> None:
    """file, label (the class name), fold, prob_<class> ... (atomic)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["file", "label", "fold", *(PROB + n for n in oof.class_names)])
    for f, y, k, q in zip(oof.files, oof.labels, oof.folds, oof.probs):
        w.writerow([f, oof.class_names[int(y)], int(k), *(f"{v:.6g}" for v in q)])
    atomic_write_text(path, out.getvalue())


def read_oof(path: Path) -> OutOfFold:
    """An oof.csv as written by ``write_csv``."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    names = [c[len(PROB):] for c in rows[0][3:]]
    index = {n: i for i, n in enumerate(names)}
    body = rows[1:]
    return OutOfFold([r[0] for r in body], np.array([index[r[1]] for r in body], dtype=np.int64),
                     np.array([int(r[2]) for r in body], dtype=np.int64),
                     np.array([[float(v) for v in r[3:]] for r in body]).reshape(len(body), len(names)), names)
