"""`vislab crossval RECIPE --folds K`: K runs on folds of the training split, as one sweep over ``data.fold``
(seeds as a sweep repeats them), and every training image's out-of-fold prediction. Folds are stratified by
class for per-image work; for per-pixel work (segmentation) they are plain seeded folds (data.folds.fold_of).

    RUNS/sweeps/<name>/
      <recipe>/<time>-trial-0003/oof.csv   the run's class probabilities on the fold it did not train on
      oof.csv                              every training image once: file, label, fold, prob_<class>...
                                           (the mean over seeds), what `vislab data issues` reads
      (oof.npz in their place for per-pixel work: files [N], folds [N], class_names [K], ignore_index,
       labels int16 [N, G, G], the masks on a G x G grid (GRID), and probs float16 [N, K, G, G], the class
       probabilities averaged over each grid cell's pixels)

The sweep machinery runs, records and resumes the folds (``--resume`` after a kill continues the folds left and
predicts only for runs that have no out-of-fold file yet). The test split stays fixed and unseen: every fold's
run picks its best epoch on the same validation split and is tested on the same test split, so `vislab compare`
reads the runs like any sweep, the fold counted like a seed. Out-of-fold predictions are made on the held-out
images loaded as evaluation loads them (resized and cropped as aug.* says, nothing random).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..atomic import atomic_write, atomic_write_text
from ..errors import VislabError
from .sweep.driver import sweep
from .sweep.space import FOLD
from .sweep.study import Sweep
from .sweep.summary import failed_logs, resume_command

OOF = "oof.csv"  # per-image work's out-of-fold predictions
OOF_PIXELS = "oof.npz"  # per-pixel work's
PROB = "prob_"  # the prefix of the class probability columns
# Per-pixel out-of-fold maps are kept on a GRID x GRID grid of every image: enough to tell a wrong shape or
# region from a right one (cleanlab.segmentation reads them), small enough that 10k VOC images of 21 classes
# take 440 MB in float16 where full 512x512 maps would take 110 GB.
GRID = 32


@dataclass
class OutOfFold:
    """Out-of-fold predictions of ``files`` [N] held out in ``folds`` [N], over ``class_names`` [K]: per image,
    given ``labels`` [N] (class ids) and ``probs`` float [N, K]; per pixel, ``labels`` [N, G, G] (the masks on
    the grid, ``ignore_index`` where ignored) and ``probs`` float [N, K, G, G]."""

    files: list[str]
    labels: np.ndarray
    folds: np.ndarray
    probs: np.ndarray
    class_names: list[str]
    ignore_index: Optional[int] = None

    @property
    def per_pixel(self) -> bool:
        """Whether these are per-pixel maps on a grid (else one row per image)."""
        return self.labels.ndim == 3


def crossval(
    recipe: Optional[str | Path] = None, overrides: Optional[dict[str, Any]] = None, *, folds: Optional[int] = None,
    seeds: Optional[int] = None, name: Optional[str] = None, resume: bool = False, runs_dir: Optional[str | Path] = None,
    workers: int = 1, show: bool = True,
) -> tuple[Sweep, Optional[Path]]:
    """Train the ``folds`` folds of ``recipe`` (each over ``seeds`` seeds) as a sweep, then write each run's
    out-of-fold predictions and the sweep's oof.csv (oof.npz for per-pixel work); returns the sweep and that
    file (None when a fold's run failed: see sweep.failed_logs). ``resume=True`` with ``name`` alone continues
    that cross-validation."""
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
    done = sweep(recipe, {**overrides, "data.folds": folds}, {FOLD: list(range(folds))}, seeds=seeds, name=name,
                 resume=resume, runs_dir=runs_dir, workers=workers, show=show)
    return done, None if failed_logs(done) else write_out_of_fold(done)


def fold_runs(done: Sweep) -> list[Path]:
    """The run directories of the sweep's finished trials, in trial order."""
    from .sweep.workers import attempt_dir

    finished = [t for t in done.trials() if t.state.name == "COMPLETE"]
    return [path for t in finished for path in [attempt_dir(done, t)] if path is not None]


def write_out_of_fold(done: Sweep) -> Path:
    """Each finished run's out-of-fold file (made once), then the sweep's: every training image with the mean
    of its out-of-fold probabilities over seeds. Folds not finished yet are bad input naming the resume."""
    runs = fold_runs(done)
    for run in runs:
        if oof_file(run) is None:
            save_oof(run, run_out_of_fold(run))
    parts = [load_oof(oof_file(run)) for run in runs]  # type: ignore[arg-type]  # each run has one now
    folds = sorted({int(p.folds[0]) for p in parts if len(p.folds)})
    if len(folds) < done.spec.base_config()["data"]["folds"]:
        raise VislabError(f"sweep {done.name} has out-of-fold predictions for folds {folds} only; finish it with: "
                          f"{resume_command(done)}")
    return save_oof(done.dir, mean_over_seeds(parts))


def unaugmented(cfg: Any) -> Any:
    """The data of a run's config (the same data.* keys, so the same splits and folds: a DataBundle) with its
    training images loaded as evaluation loads them: resized and cropped as aug.* says, nothing random."""
    from .. import data
    from ..config import AugConfig

    a = cfg.aug
    plain = dataclasses.replace(AugConfig(), resize=a.resize, center_crop=a.center_crop, interpolation=a.interpolation,
                                normalize=a.normalize)
    return data.build(cfg.data, plain)


def run_out_of_fold(run: Path) -> OutOfFold:
    """The predictions of a fold's run (best.pt) on the fold it held out (see ``unaugmented``): class
    probabilities per image, or per pixel on the GRID x GRID grid (pixel_grids)."""
    from ..inference import restore
    from ..voting import split_logits

    r = restore(run, "best", with_data=False)
    r = dataclasses.replace(r, bundle=unaugmented(r.cfg))
    if r.task.per_pixel:
        probs, labels, index = pixel_grids(r)
    else:
        logits, labels, index = split_logits(r, "heldout", use="crossval's out-of-fold predictions need")
        probs = logits.softmax(1)
    names = r.bundle.files["heldout"]
    order = index.argsort()
    return OutOfFold([names[int(i)] for i in index[order]], labels[order].numpy(), np.full(len(order), r.cfg.data.fold),
                     probs[order].numpy(), list(r.info.class_names), r.info.ignore_index if r.task.per_pixel else None)


def pixel_grids(r: Any) -> tuple[Any, Any, Any]:
    """Over the held-out fold of a restored per-pixel run: class probabilities float16 [N, K, GRID, GRID] (each
    cell the mean of its pixels' softmax), the masks on the same grid int16 [N, GRID, GRID] (each cell the
    pixel nearest its centre; ignore_index kept) and sample indices [N]; each image at its own size, unpadded."""
    import torch
    import torch.nn.functional as F

    from ..engine import make_loader, predictions
    from ..tasks.segmentation.metrics import image_sizes

    loader = make_loader(r.cfg, r.bundle.heldout, r.fabric, r.bundle, train=False, sharded=False)
    probs, masks, index = [], [], []
    for outputs, batch in predictions(r.model, loader, r.task, r.fabric, r.cfg):
        logits, targets = r.task.pixel_logits(outputs).float(), batch["target"]
        for i, (h, w) in enumerate(image_sizes(batch)):
            probs.append(F.adaptive_avg_pool2d(logits[i : i + 1, :, :h, :w].softmax(1), GRID).half().cpu())
            mask = targets[i : i + 1, None, :h, :w].float()
            masks.append(F.interpolate(mask, size=(GRID, GRID), mode="nearest-exact")[:, 0].short().cpu())
        index.append(torch.as_tensor(batch["index"]).cpu())
    return torch.cat(probs), torch.cat(masks), torch.cat(index)


def mean_over_seeds(parts: list[OutOfFold]) -> OutOfFold:
    """One entry per image: its probabilities averaged over the runs (seeds) that held it out."""
    by_file: dict[str, list[tuple[np.ndarray, int, np.ndarray]]] = {}
    for p in parts:
        for f, y, k, q in zip(p.files, p.labels, p.folds, p.probs):
            by_file.setdefault(f, []).append((y, int(k), q))
    files = list(by_file)
    first = parts[0]
    return OutOfFold(files, np.stack([by_file[f][0][0] for f in files]), np.array([by_file[f][0][1] for f in files]),
                     np.stack([np.mean([q for _, _, q in by_file[f]], axis=0) for f in files]), first.class_names,
                     first.ignore_index)


def oof_file(folder: Path) -> Optional[Path]:
    """The out-of-fold predictions in ``folder``: oof.csv (per image) or oof.npz (per pixel); None: neither."""
    return next((folder / n for n in (OOF, OOF_PIXELS) if (folder / n).is_file()), None)


def save_oof(folder: Path, oof: OutOfFold) -> Path:
    """``folder``/oof.csv (write_csv) or, per pixel, ``folder``/oof.npz (write_npz); returns the file."""
    path = folder / (OOF_PIXELS if oof.per_pixel else OOF)
    (write_npz if oof.per_pixel else write_csv)(path, oof)
    return path


def load_oof(path: Path) -> OutOfFold:
    """An out-of-fold file as ``save_oof`` wrote it."""
    return read_npz(path) if path.suffix == ".npz" else read_oof(path)


def write_npz(path: Path, oof: OutOfFold) -> None:
    """Per-pixel out-of-fold maps (see the module), compressed (atomic)."""
    arrays = {"files": np.array(oof.files), "folds": np.asarray(oof.folds, dtype=np.int64),
              "class_names": np.array(oof.class_names), "ignore_index": np.array(oof.ignore_index),
              "labels": np.asarray(oof.labels, dtype=np.int16), "probs": np.asarray(oof.probs, dtype=np.float16)}
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def read_npz(path: Path) -> OutOfFold:
    """An oof.npz as written by ``write_npz`` (probabilities as float32)."""
    with np.load(path) as z:
        return OutOfFold(z["files"].tolist(), z["labels"], z["folds"], z["probs"].astype(np.float32),
                         z["class_names"].tolist(), int(z["ignore_index"]))


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
