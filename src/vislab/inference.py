"""Using a finished run: its checkpoint restored on one device, then evaluated on a split, run on image
files, or voted with other runs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

from . import config as config_mod
from .atomic import atomic_write_text
from .config import Config
from .errors import VislabError
from .runs import Run, read_data_info


@dataclasses.dataclass
class Restored:
    """A finished run brought back for inference: its config, data (when built), task, and model in eval mode."""

    run: Run
    cfg: Config
    info: Any
    bundle: Any
    task: Any
    model: Any
    fabric: Any


def restore(
    run: str | Path | Run, checkpoint: str = "best", overrides: Optional[dict[str, Any]] = None, with_data: bool = True,
    weights: str = "raw",
) -> Restored:
    """A run's model with its ``checkpoint`` (best, last or averaged) loaded, on one device: the trained
    weights (``weights="raw"``) or their EMA (``"ema"``). ``with_data=False`` builds the data only when the
    run saved no data_info.json."""
    from . import data, tasks
    from .engine import describe_checkpoint, load_checkpoint, load_weights
    from .engine.ema import ema_weights

    run = run if isinstance(run, Run) else Run.load(run)
    if checkpoint not in ("best", "last", "averaged"):
        raise VislabError(f"--checkpoint must be best, last or averaged, not '{checkpoint}'")
    if weights not in ("raw", "ema"):
        raise VislabError(f"--weights must be raw or ema, not '{weights}'")
    path = run.checkpoint_path(checkpoint)
    if checkpoint == "averaged" and not path.is_file():
        raise VislabError(f"{run.dir} has no checkpoints/averaged.pt: train with train.average_last=K to make one")
    state = load_checkpoint(path)
    state_weights = ema_weights(state, path) if weights == "ema" else state["model"]
    cfg = config_mod.resolve(run.config_path, {"model.pretrained": False, "model.weights": None, **(overrides or {})})
    fabric = single_device_fabric(cfg)
    info = None if with_data else read_data_info(run)
    bundle = data.build(cfg.data, cfg.aug) if info is None else None
    info = info or bundle.info
    task = tasks.build(cfg, info)
    model = task.build_model(cfg, info)
    load_weights(model, state_weights, describe_checkpoint(path, state))
    return Restored(run, cfg, info, bundle, task, model.to(fabric.device).eval(), fabric)


def evaluate(
    run: str | Path | Run, split: str = "val", checkpoint: str = "best", overrides: Optional[dict[str, Any]] = None,
    weights: str = "raw",
) -> dict[str, float]:
    """Metrics of a run's checkpoint on a split (``val_acc`` ...), with its trained or EMA ``weights``; also saved
    as eval_<split>_<checkpoint>.json (eval_<split>_<checkpoint>_ema.json for the EMA weights)."""
    import json

    from .engine import evaluate as evaluate_split
    from .engine import make_loader

    if split not in ("train", "val", "test"):
        raise VislabError(f"--split must be train, val or test, not '{split}'")
    r = restore(run, checkpoint, overrides, weights=weights)
    dataset = getattr(r.bundle, split)
    if dataset is None:
        raise VislabError(f"dataset {r.cfg.data.name} has no {split} split in this run's configuration")
    loader = make_loader(r.cfg, dataset, r.fabric, r.bundle, train=False)
    metrics = {f"{split}_{k}": v for k, v in evaluate_split(r.model, loader, r.task, r.fabric, r.cfg).items()}
    suffix = "_ema" if weights == "ema" else ""
    atomic_write_text(r.run.dir / f"eval_{split}_{checkpoint}{suffix}.json", json.dumps(metrics, indent=2) + "\n")
    return metrics


def predict(
    run: str | Path | Run, inputs: list[str | Path], out: Optional[str | Path] = None, checkpoint: str = "best",
    overrides: Optional[dict[str, Any]] = None, **options: Any,
) -> list[dict[str, Any]]:
    """Predictions of a run's checkpoint for image files (folders are searched), by the run's task.

    The task's ``predict_files(model, files, *, cfg, info, device, out, **options)`` does the work and
    returns one dict per image with at least ``file`` and ``summary`` (a line to print); ``out`` is
    where it writes its results (a CSV for classification; a folder of PNGs for tasks whose
    ``predicts_to_folder`` is set, by default RUN_DIR/predictions). ``overrides`` change the run's config
    for inference (``eval.sliding_window=[256,256]``). Options not in the task's ``predict_options`` are
    bad input.
    """
    from .data.images import image_files

    r = restore(run, checkpoint, overrides, with_data=False)
    task = r.task
    for key in options:
        if key not in task.predict_options:
            raise VislabError(f"--{key} does not apply to {task.name} runs")
    files = image_files(inputs)
    target = Path(out).expanduser() if out else None
    if task.predicts_to_folder:
        target = target or r.run.dir / "predictions"
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise VislabError(f"cannot create output folder {target}: {e.strerror}; choose another with --out") from None
    return task.predict_files(r.model, files, cfg=r.cfg, info=r.info, device=r.fabric.device, out=target, **options)


def ensemble(
    runs: list[str | Path | Run], vote: str = "soft", split: str = "val", checkpoint: str = "best"
) -> dict[str, Any]:
    """Accuracy of each run and of their vote (soft: mean probabilities; hard: majority of predictions)
    on a split all of them share; runs whose splits differ are bad input."""
    from .voting import member_outputs, vote_accuracy

    if vote not in ("soft", "hard"):
        raise VislabError(f"--vote must be soft or hard, not '{vote}'")
    if split not in ("val", "test"):
        raise VislabError(f"--split must be val or test, not '{split}'")
    if len(runs) < 2:
        raise VislabError("an ensemble needs at least two run directories")
    members = [member_outputs(restore(r, checkpoint), split) for r in runs]
    return vote_accuracy(members, vote, split)


def single_device_fabric(cfg: Config) -> Any:
    """One device of whatever kind is here, for evaluation and prediction of a finished run."""
    import torch

    from .engine import make_fabric

    precision = cfg.train.precision
    if precision == "16-mixed" and not torch.cuda.is_available():
        precision = "32-true"
    train = dataclasses.replace(cfg.train, accelerator="auto", devices=1, num_nodes=1, strategy="auto", precision=precision)
    return make_fabric(train)
