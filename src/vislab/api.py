"""The Python API. The CLI calls these same functions.

    run = vislab.train("digits", **{"optim.lr": 3e-3})
    vislab.evaluate(run, split="test")
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Optional

from . import config as config_mod
from .config import Config
from .errors import VislabError
from .runs import Run, default_runs_dir, ensure_dir


def train(
    recipe: Optional[str | Path | dict] = None,
    *,
    resume: Optional[str | Path | Run] = None,
    runs_dir: Optional[str | Path] = None,
    name: Optional[str] = None,
    overrides: Optional[dict[str, Any]] = None,
    on_epoch: Optional[Callable[[dict[str, Any]], Optional[str]]] = None,
    **kwargs: Any,
) -> Run:
    """Train a recipe (a packaged name, a YAML path or a recipe mapping) with dotted overrides; returns the Run.

    ``vislab.train("digits", **{"optim.lr": 3e-3})``; ``vislab.train(resume="runs/digits/...")``
    continues an interrupted run from its last.pt. Bad input raises VislabError before any run
    directory is created. ``on_epoch(row)`` sees each metrics.csv row and may stop training by
    returning a final status (see ``engine.fit``).
    """
    values = {**(overrides or {}), **kwargs}
    if resume is not None:
        return _resume(resume, values, on_epoch)
    if recipe is None:
        raise VislabError("name a recipe to train (`vislab recipes` lists them), or --resume RUN_DIR")
    cfg = config_mod.resolve(recipe, values)
    return _run_training(cfg, ensure_dir(Path(runs_dir) if runs_dir else default_runs_dir()), name, on_epoch=on_epoch)


def _resume(path: str | Path | Run, overrides: dict[str, Any], on_epoch: Optional[Callable] = None) -> Run:
    from .engine import load_checkpoint

    run = path if isinstance(path, Run) else Run.load(path)
    last = run.checkpoint_path("last")
    if not last.is_file():
        raise VislabError(f"{run.dir} holds no checkpoint to resume (checkpoints/last.pt is missing)")
    checkpoint = load_checkpoint(last)
    cfg = config_mod.resolve(run.config_path, overrides)
    done = checkpoint["state"]["epoch"]
    if done >= cfg.train.epochs:
        raise VislabError(
            f"{run.dir} already finished {done} of train.epochs={cfg.train.epochs}; pass train.epochs=N to train longer"
        )
    return _run_training(cfg, run.dir.parent.parent, None, run=run, checkpoint=checkpoint, on_epoch=on_epoch)


def _run_training(
    cfg: Config,
    runs_dir: Path,
    name: Optional[str],
    run: Optional[Run] = None,
    checkpoint: Optional[dict] = None,
    on_epoch: Optional[Callable] = None,
) -> Run:
    from . import data, models, tasks
    from .engine import configure_backends, fit, make_fabric, seed_all

    fabric = make_fabric(cfg.train)
    seed_all(cfg.train.seed)
    bundle = data.build(cfg.data, cfg.aug)
    model = models.build(cfg.model, bundle.info)
    task = tasks.build(cfg, bundle.info)
    fabric.launch()  # with several devices this starts the other processes, which re-run up to here
    configure_backends(cfg.train, fabric)
    if fabric.is_global_zero:
        run = run or Run.create(runs_dir, cfg.recipe, name)
        config_mod.save(cfg, run.config_path)
        write_split_files(run, bundle.files)
    run = Run(fabric.broadcast(str(run.dir) if fabric.is_global_zero else None, src=0))
    fit(cfg, bundle, model, task, run, fabric, resume=checkpoint, on_epoch=on_epoch)
    return run


def write_split_files(run: Run, files: dict[str, list[str]]) -> None:
    """splits/<split>.txt: the files of each split, one per line, so the split can be checked and repeated."""
    if not files:
        return
    (run.dir / "splits").mkdir(exist_ok=True)
    for split, names in files.items():
        (run.dir / "splits" / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))


def evaluate(
    run: str | Path | Run, split: str = "val", checkpoint: str = "best", overrides: Optional[dict[str, Any]] = None
) -> dict[str, float]:
    """Metrics of a run's checkpoint on a split (``val_acc`` ...); also saved as eval_<split>_<checkpoint>.json."""
    import json

    from . import data, models, tasks
    from .atomic import atomic_write_text
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
    load_weights(model, state["model"], f"checkpoint {run.checkpoint_path(checkpoint)}")
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
