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
    """A finished run brought back for inference: its config, data (when built), and model in eval mode."""

    run: Run
    cfg: Config
    info: Any
    bundle: Any
    model: Any
    fabric: Any


def restore(
    run: str | Path | Run, checkpoint: str = "best", overrides: Optional[dict[str, Any]] = None, with_data: bool = True
) -> Restored:
    """A run's model with its ``checkpoint`` (best or last) loaded, on one device. ``with_data=False``
    builds the data only when the run saved no data_info.json."""
    from . import data, models
    from .engine import describe_checkpoint, load_checkpoint, load_weights

    run = run if isinstance(run, Run) else Run.load(run)
    if checkpoint not in ("best", "last"):
        raise VislabError(f"--checkpoint must be best or last, not '{checkpoint}'")
    state = load_checkpoint(run.checkpoint_path(checkpoint))
    cfg = config_mod.resolve(run.config_path, {"model.pretrained": False, "model.weights": None, **(overrides or {})})
    fabric = single_device_fabric(cfg)
    info = None if with_data else read_data_info(run)
    bundle = data.build(cfg.data, cfg.aug) if info is None else None
    info = info or bundle.info
    model = models.build(cfg.model, info)
    load_weights(model, state["model"], describe_checkpoint(run.checkpoint_path(checkpoint), state))
    return Restored(run, cfg, info, bundle, model.to(fabric.device).eval(), fabric)


def evaluate(
    run: str | Path | Run, split: str = "val", checkpoint: str = "best", overrides: Optional[dict[str, Any]] = None,
    export_panoptic: Optional[str | Path] = None,
) -> dict[str, float]:
    """Metrics of a run's checkpoint on a split (``val_acc`` ...); also saved as eval_<split>_<checkpoint>.json
    with the evaluation settings used (``tta``; panoptic post-processing). ``export_panoptic``: a folder that
    gets the panoptic predictions and ground truth of the split in the COCO panoptic format."""
    import json

    from . import tasks
    from .engine import evaluate as evaluate_split
    from .engine import make_loader

    if split not in ("train", "val", "test"):
        raise VislabError(f"--split must be train, val or test, not '{split}'")
    export_dir = check_export_dir(export_panoptic) if export_panoptic is not None else None
    r = restore(run, checkpoint, overrides)
    dataset = getattr(r.bundle, split)
    if dataset is None:
        raise VislabError(f"dataset {r.cfg.data.name} has no {split} split in this run's configuration")
    task = tasks.build(r.cfg, r.info)
    if export_dir is not None and not task.exports_panoptic:
        raise VislabError(f"--export-panoptic needs a panoptic run; {r.run.dir} is a {r.info.task} run")
    loader = make_loader(r.cfg, dataset, r.fabric, r.bundle, train=False)
    metrics = {f"{split}_{k}": v for k, v in evaluate_split(r.model, loader, task, r.fabric, r.cfg).items()}
    record = {**metrics, **task.eval_settings()}
    atomic_write_text(r.run.dir / f"eval_{split}_{checkpoint}.json", json.dumps(record, indent=2) + "\n")
    if export_dir is not None:
        from .engine import predictions

        whole = make_loader(r.cfg, dataset, r.fabric, r.bundle, train=False, sharded=False)
        task.export_panoptic(export_dir, predictions(r.model, whole, task, r.fabric))
    return metrics


def check_export_dir(path: str | Path) -> Path:
    """A folder for a COCO panoptic export: new, or empty; never one holding files (nothing is overwritten)."""
    out = Path(path).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VislabError(f"--export-panoptic {out} exists and is not an empty folder; name a new one")
    return out


def predict(
    run: str | Path | Run, inputs: list[str | Path], out: Optional[str | Path] = None, checkpoint: str = "best",
    overrides: Optional[dict[str, Any]] = None, **options: Any,
) -> list[dict[str, Any]]:
    """Predictions of a run's checkpoint for image files (folders are searched), by the run's task.

    The task's ``predict_files(model, files, *, cfg, info, device, out, **options)`` does the work and
    returns one dict per image with at least ``file`` and ``summary`` (a line to print); ``out`` is
    where it writes its results (a CSV for classification; a folder of PNGs for tasks whose
    ``predicts_to_folder`` is set, by default RUN_DIR/predictions). ``overrides`` change the run's config
    for inference (``eval.sliding_window=[256,256]``). Options the task does not take are bad input.
    """
    import inspect

    from . import tasks
    from .calibration import run_temperature
    from .data.images import image_files

    r = restore(run, checkpoint, overrides, with_data=False)
    task = tasks.build(r.cfg, r.info)
    task.temperature = run_temperature(r.run.dir)
    method = getattr(task, "predict_files", None)
    if method is None:
        raise VislabError(f"{r.info.task} runs cannot predict from image files")
    accepted = inspect.signature(method).parameters
    for key in options:
        if key not in accepted:
            raise VislabError(f"--{key} does not apply to {r.info.task} runs")
    files = image_files(inputs)
    target = Path(out).expanduser() if out else None
    if getattr(task, "predicts_to_folder", False):
        target = target or r.run.dir / "predictions"
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise VislabError(f"cannot create output folder {target}: {e.strerror}; choose another with --out") from None
    return method(r.model, files, cfg=r.cfg, info=r.info, device=r.fabric.device, out=target, **options)


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


def calibrate(run: str | Path | Run, split: str = "val", checkpoint: str = "best") -> Any:
    """Temperature scaling of a classification (or domain-generalization) run, fitted on ``split``: stored
    as RUN_DIR/calibration.json (used by predict and ensemble from then on), with reliability diagrams
    before and after in RUN_DIR/artifacts. Returns the calibration.Calibration."""
    from .calibration import calibrate_logits, reliability_bins, save_calibration, save_reliability_diagram
    from .voting import split_logits

    if split not in ("val", "test", "train"):
        raise VislabError(f"--split must be train, val or test, not '{split}'")
    r = restore(run, checkpoint)
    logits, targets, _ = split_logits(r, split)
    result = calibrate_logits(logits, targets, split, checkpoint)
    art = r.run.dir / "artifacts"
    art.mkdir(exist_ok=True)
    for name, t in (("uncalibrated", 1.0), ("calibrated", result.temperature)):
        save_reliability_diagram(art / f"reliability_{split}_{checkpoint}_{name}.png",
                                 reliability_bins((logits / t).softmax(1), targets),
                                 f"{split} split, {checkpoint}.pt, temperature {t:.3f}")
    save_calibration(r.run.dir, result)
    return result


def single_device_fabric(cfg: Config) -> Any:
    """One device of whatever kind is here, for evaluation and prediction of a finished run."""
    import torch

    from .engine import make_fabric

    precision = cfg.train.precision
    if precision == "16-mixed" and not torch.cuda.is_available():
        precision = "32-true"
    train = dataclasses.replace(cfg.train, accelerator="auto", devices=1, num_nodes=1, strategy="auto", precision=precision)
    return make_fabric(train)
