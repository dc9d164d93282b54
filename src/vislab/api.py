"""The Python API. The CLI calls these same functions.

    run = vislab.train("digits", **{"optim.lr": 3e-3})
    vislab.evaluate(run, split="test")
"""

from __future__ import annotations

import dataclasses
import errno
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from . import config as config_mod
from .atomic import atomic_write_text
from .config import Config
from .errors import VislabError
from .runs import Run, default_runs_dir, ensure_dir


def train(
    recipe: Optional[str | Path] = None,
    *,
    resume: Optional[str | Path | Run] = None,
    runs_dir: Optional[str | Path] = None,
    name: Optional[str] = None,
    overrides: Optional[dict[str, Any]] = None,
    **kwargs: Any,
) -> Run:
    """Train a recipe (a packaged name or a YAML path) with dotted overrides; returns the Run.

    ``vislab.train("digits", **{"optim.lr": 3e-3})``; ``vislab.train(resume="runs/digits/...")``
    continues an interrupted run from its last.pt. Bad input raises VislabError before any run
    directory is created.
    """
    values = {**(overrides or {}), **kwargs}
    if resume is not None:
        return _resume(resume, values)
    if recipe is None:
        raise VislabError("name a recipe to train (`vislab recipes` lists them), or --resume RUN_DIR")
    cfg = config_mod.resolve(recipe, values)
    return _run_training(cfg, ensure_dir(Path(runs_dir) if runs_dir else default_runs_dir()), name)


def _resume(path: str | Path | Run, overrides: dict[str, Any]) -> Run:
    from .engine import load_checkpoint

    run = path if isinstance(path, Run) else Run.load(path)
    last = run.checkpoint_path("last")
    if not last.is_file():
        raise VislabError(
            f"{run.dir} holds no checkpoint to resume (checkpoints/last.pt is missing); "
            f"start it again with: vislab train {run.config_path}"
        )
    checkpoint = load_checkpoint(last)
    lacking = [k for k in ("model", "optimizer", "scheduler", "state", "rng") if k not in checkpoint]
    if lacking:
        raise VislabError(f"checkpoint {last} cannot be resumed: it holds no {', '.join(lacking)}")
    cfg = config_mod.resolve(run.config_path, overrides)
    done = checkpoint["state"]["epoch"]
    if done >= cfg.train.epochs and run.summary.get("status") == "completed":
        raise VislabError(
            f"{run.dir} already finished {done} of train.epochs={cfg.train.epochs}; pass train.epochs=N to train longer"
        )
    return _run_training(cfg, run.dir.parent.parent, None, run=run, checkpoint=checkpoint)


def _run_training(
    cfg: Config, runs_dir: Path, name: Optional[str], run: Optional[Run] = None, checkpoint: Optional[dict] = None
) -> Run:
    from . import data, models, tasks
    from .engine import configure_backends, fit, load_weights, make_fabric, seed_all

    fabric = make_fabric(cfg.train)
    seed_all(cfg.train.seed)
    bundle = data.build(cfg.data, cfg.aug)
    model = models.build(cfg.model, bundle.info)
    if run is not None and checkpoint is not None:  # checked before anything in the run directory changes
        load_weights(model, checkpoint["model"], describe_checkpoint(run.checkpoint_path("last"), checkpoint))
    task = tasks.build(cfg, bundle.info)
    fabric.launch()  # with several devices this starts the other processes, which re-run up to here
    configure_backends(cfg.train, fabric)
    created = run is None and fabric.is_global_zero
    if fabric.is_global_zero:
        run = run or Run.create(runs_dir, cfg.recipe, name)
    with removed_unless_checkpointed(run if created else None):
        if fabric.is_global_zero:
            config_mod.save(cfg, run.config_path)
            write_split_files(run, bundle.files)
        run = Run(fabric.broadcast(str(run.dir) if fabric.is_global_zero else None, src=0))
        fit(cfg, bundle, model, task, run, fabric, resume=checkpoint)
    return run


def describe_checkpoint(path: Path, checkpoint: dict) -> str:
    """'checkpoint PATH (a resnet18)': the model it was trained as, for messages about a mismatch."""
    trained_as = (checkpoint.get("config") or {}).get("model", {}).get("name", "model of unknown name")
    return f"checkpoint {path} (a {trained_as})"


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@contextmanager
def removed_unless_checkpointed(created: Optional[Run]) -> Iterator[None]:
    """Bad input, a full disk or Ctrl-C before the first checkpoint leave no run directory behind.

    ``created`` is the run directory this call made (None on resume: an existing run is never
    removed). A full disk (or quota, or file-size limit) becomes bad input naming the file.
    """
    try:
        yield
    except (VislabError, KeyboardInterrupt, OSError) as e:
        full = isinstance(e, OSError) and e.errno in _DISK_FULL
        if isinstance(e, OSError) and not full:
            raise
        if created is not None and not created.checkpoint_path("last").is_file():
            shutil.rmtree(created.dir, ignore_errors=True)
            try:
                created.dir.parent.rmdir()  # the recipe's folder, when this run was its only one
            except OSError:
                pass
        if full:
            where = e.filename or (created.dir if created is not None else "the run directory")
            raise VislabError(f"cannot write {where}: {e.strerror}; free space or choose another --runs-dir") from None
        raise


def write_split_files(run: Run, files: dict[str, list[str]]) -> None:
    """splits/<split>.txt: the files of each split, one per line, so the split can be checked and repeated."""
    if not files:
        return
    (run.dir / "splits").mkdir(exist_ok=True)
    for split, names in files.items():
        atomic_write_text(run.dir / "splits" / f"{split}.txt", "".join(f"{n}\n" for n in names))


def evaluate(
    run: str | Path | Run, split: str = "val", checkpoint: str = "best", overrides: Optional[dict[str, Any]] = None
) -> dict[str, float]:
    """Metrics of a run's checkpoint on a split (``val_acc`` ...); also saved as eval_<split>_<checkpoint>.json."""
    import json

    from . import data, models, tasks
    from .engine import evaluate as evaluate_split
    from .engine import load_checkpoint, load_weights, make_loader

    run = run if isinstance(run, Run) else Run.load(run)
    if split not in ("train", "val", "test"):
        raise VislabError(f"--split must be train, val or test, not '{split}'")
    if checkpoint not in ("best", "last"):
        raise VislabError(f"--checkpoint must be best or last, not '{checkpoint}'")
    state = load_checkpoint(run.checkpoint_path(checkpoint))
    cfg = config_mod.resolve(run.config_path, {"model.pretrained": False, **(overrides or {})})
    fabric = single_device_fabric(cfg)
    bundle = data.build(cfg.data, cfg.aug)
    dataset = getattr(bundle, split)
    if dataset is None:
        raise VislabError(f"dataset {cfg.data.name} has no {split} split in this run's configuration")
    model = models.build(cfg.model, bundle.info)
    load_weights(model, state["model"], describe_checkpoint(run.checkpoint_path(checkpoint), state))
    model = model.to(fabric.device)
    task = tasks.build(cfg, bundle.info)
    loader = make_loader(cfg, dataset, fabric, bundle, train=False)
    metrics = {f"{split}_{k}": v for k, v in evaluate_split(model, loader, task, fabric, cfg).items()}
    atomic_write_text(run.dir / f"eval_{split}_{checkpoint}.json", json.dumps(metrics, indent=2) + "\n")
    return metrics


def single_device_fabric(cfg: Config) -> Any:
    """One device of whatever kind is here, for evaluation and prediction of a finished run."""
    import torch

    from .engine import make_fabric

    precision = cfg.train.precision
    if precision == "16-mixed" and not torch.cuda.is_available():
        precision = "32-true"
    train = dataclasses.replace(cfg.train, accelerator="auto", devices=1, num_nodes=1, strategy="auto", precision=precision)
    return make_fabric(train)
