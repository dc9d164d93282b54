"""Using a finished run: its checkpoint restored on one device, then evaluated on a split, run on image
files, or voted with other runs.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, Optional

from . import config as config_mod
from .atomic import atomic_write_text
from .config import Config
from .errors import VislabError
from .outputs import out_file, out_folder
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

    def predictor(self, temperature: float = 1.0) -> Any:
        """The run's Predictor (predictor.py) on this model and device; ``temperature`` divides its class logits
        (the one ``vislab calibrate`` stored with the run, for predictions)."""
        from .predictor import predictor_for

        return predictor_for(self.task, self.model, self.cfg, self.info, self.fabric.device, temperature)


def restore(
    run: str | Path | Run, checkpoint: str = "best", overrides: Optional[dict[str, Any]] = None, with_data: bool = True,
    exported: Optional[str | Path] = None, weights: str = "raw",
) -> Restored:
    """A run's model with its ``checkpoint`` (checkpoints/<checkpoint>.pt: best, last, averaged ...) loaded, on
    one device: the trained weights (``weights="raw"``) or their EMA (``"ema"``); or, with ``exported``, that
    exported file (export.runtime) in the model's place. ``with_data=False`` builds the data only when the
    run saved no data_info.json."""
    if weights not in WEIGHTS:
        raise VislabError(f"--weights must be {' or '.join(WEIGHTS)}, not '{weights}'")
    run = run if isinstance(run, Run) else Run.load(run)
    path = run.checkpoint_file(checkpoint) if exported is None else None
    from . import data, tasks  # after the checks: a mistake is answered without torch's import
    from .engine import describe_checkpoint, evaluated_weights, load_checkpoint, load_weights
    from .engine.ema import ema_weights
    from .engine.layout import model_in_layout

    state = load_checkpoint(path) if path is not None else None
    state_weights = (ema_weights(state, path) if weights == "ema" else evaluated_weights(state)) if state is not None else None
    cfg = config_mod.resolve(run.config_path, {"model.pretrained": False, "model.weights": None, **(overrides or {})})
    fabric = single_device_fabric(cfg)
    info = None if with_data else read_data_info(run)
    bundle = data.build(cfg.data, cfg.aug) if info is None else None
    info = info or bundle.info
    task = tasks.build(cfg, info, evaluating=True)
    if exported is not None:
        from .export.runtime import check_matches, load_exported

        model = load_exported(exported, fabric.device)
        check_matches(model, info, run.dir)
        return Restored(run, cfg, info, bundle, task, model.eval(), fabric)
    model = task.build_model(cfg, info)
    load_weights(model, state_weights, describe_checkpoint(path, state))
    model = model_in_layout(model.to(fabric.device).eval(), cfg.train)  # as it trained, which it chose for speed
    return Restored(run, cfg, info, bundle, task, model, fabric)


WEIGHTS = ("raw", "ema")  # what --weights chooses: the trained weights, or their EMA (train.ema)


def weights_source(checkpoint: str, weights: str) -> str:
    """How files made from a checkpoint's weights are named: ``best``, or ``best_ema`` for its EMA weights."""
    return checkpoint + ("_ema" if weights == "ema" else "")


class MetricsNotSaved(VislabError):
    """The metrics were measured, but their file could not be written; ``metrics`` holds them."""

    def __init__(self, message: str, metrics: dict[str, float]) -> None:
        super().__init__(message)
        self.metrics = metrics


def evaluate(
    run: str | Path | Run, split: str = "val", checkpoint: str = "best", overrides: Optional[dict[str, Any]] = None,
    out: Optional[str | Path] = None, exported: Optional[str | Path] = None, weights: str = "raw",
    export_panoptic: Optional[str | Path] = None,
) -> dict[str, float]:
    """Metrics of a run's checkpoint, with its trained or EMA ``weights`` (or of the ``exported`` file of it), on
    a split (``val_acc`` ...). Saved as JSON with the evaluation settings used (``tta``; panoptic
    post-processing) to ``out``, by default RUN_DIR/eval_<split>_<checkpoint>[_ema].json (eval_<split>_<file>.json
    for an exported file); for a checkpoint evaluated into its own run directory also the per-sample records,
    records/<split>.npz (records/<split>-<checkpoint>.npz for the others). A file that cannot be written raises
    MetricsNotSaved, which carries the metrics. ``export_panoptic``: a folder that gets the panoptic
    predictions and ground truth of the split in the COCO panoptic format."""
    if split not in ("train", "val", "test"):
        raise VislabError(f"--split must be train, val or test, not '{split}'")
    target = out_file(out, "eval.json") if out is not None else None
    export_dir = check_export_dir(export_panoptic) if export_panoptic is not None else None
    r = restore(run, checkpoint, overrides, exported=exported, weights=weights)
    from .engine import evaluate as evaluate_split
    from .engine import make_loader
    from .engine.sample_records import RecordRows

    dataset = getattr(r.bundle, split)
    if dataset is None:
        raise VislabError(f"dataset {r.cfg.data.name} has no {split} split in this run's configuration")
    if export_dir is not None and not r.task.panoptic:
        raise VislabError(f"--export-panoptic needs a panoptic run; {r.run.dir} is a {r.task.name} run")
    loader = make_loader(r.cfg, dataset, r.fabric, r.bundle, train=False)
    recording = exported is None and target is None
    rows = RecordRows(r.task)  # from the evaluation's own outputs (one device: its loader is the whole split)
    measured = evaluate_split(r.model, loader, r.task, r.fabric, r.cfg, each=rows if recording else None)
    metrics = {f"{split}_{k}": v for k, v in measured.items()}
    source = Path(exported).name if exported is not None else weights_source(checkpoint, weights)
    save_metrics(target or r.run.dir / f"eval_{split}_{source}.json", metrics, r.task.eval_settings())
    if recording:
        try:
            rows.write(r.run.dir, split, source)
        except OSError as e:
            raise MetricsNotSaved(f"cannot write {r.run.dir / 'records'}: {e.strerror}; the metrics above were saved, "
                                  "the per-image records were not", metrics) from None
    if export_dir is not None:
        from .engine import predictions

        whole = make_loader(r.cfg, dataset, r.fabric, r.bundle, train=False, sharded=False)
        r.task.export_panoptic(export_dir, predictions(r.model, whole, r.task, r.fabric, r.cfg))
    return metrics


def check_export_dir(path: str | Path) -> Path:
    """A folder for a COCO panoptic export: new, or empty; never one holding files (nothing is overwritten)."""
    out = Path(path).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VislabError(f"--export-panoptic {out} exists and is not an empty folder; name a new one")
    return out


def save_metrics(path: Path, metrics: dict[str, float], settings: Optional[dict[str, Any]] = None) -> None:
    """``metrics`` and the evaluation ``settings`` as JSON at ``path``; a place that takes no files (read-only,
    full) raises MetricsNotSaved, which carries the metrics."""
    import json

    try:
        atomic_write_text(path, json.dumps({**metrics, **(settings or {})}, indent=2) + "\n")
    except OSError as e:
        raise MetricsNotSaved(
            f"cannot write {path}: {e.strerror}; the metrics above were not saved (write them elsewhere with --out FILE.json)",
            metrics,
        ) from None


def predict(
    run: str | Path | Run, inputs: list[str | Path], out: Optional[str | Path] = None, checkpoint: str = "best",
    overrides: Optional[dict[str, Any]] = None, exported: Optional[str | Path] = None, **options: Any,
) -> list[dict[str, Any]]:
    """Predictions of a run's checkpoint for image files (folders are searched), by the run's task.
    Unreadable files stop it, or with ``data.skip_corrupt`` are left out and counted on stderr.

    The run's predictor (``Restored.predictor``: predictor.py) does the work and returns one dict per image
    with at least ``file`` and ``summary`` (a line to print); ``out`` is where it writes its results (a CSV for
    classification; a folder of PNGs for predictors whose ``folder`` is set, by default RUN_DIR/predictions).
    ``overrides`` change the run's config for inference (``eval.sliding_window=[256,256]``). ``exported``
    predicts with that exported file of the run instead of its checkpoint. Options not in the predictor's
    ``options`` are bad input.
    """
    check_predict_options(out, options)  # before torch is imported and the model loaded
    r = restore(run, checkpoint, overrides, with_data=False, exported=exported)
    from .calibration import run_temperature
    from .data.files.images import image_files

    predictor = r.predictor(run_temperature(r.run.dir))
    for key in options:
        if key not in predictor.options:
            raise VislabError(f"--{key} does not apply to {r.task.name} runs")
    target = Path(out).expanduser() if out else None
    if predictor.folder:
        target = target or r.run.dir / "predictions"
    elif target is not None:
        target = out_file(target, "predictions.csv", strict_suffix=False)
    files = image_files(inputs, skip=target if predictor.folder else None)
    if r.cfg.data.skip_corrupt:
        files = readable(files)
    if predictor.folder:
        out_folder(target)
    return predictor.predict_files(files, target, **options)


def check_predict_options(out: Optional[str | Path], options: dict[str, Any]) -> None:
    """What predict can tell without the run's model: ``--topk`` is at least 1, and ``--out`` can be written
    (the nearest part of it that exists is a folder, or the file itself, that takes writes). Whether the run
    writes a file or a folder there is its task's to say, once loaded."""
    import os

    topk = options.get("topk")
    if topk is not None and topk < 1:
        raise VislabError(f"--topk must be at least 1, not {topk}")
    if out is None:
        return
    target = Path(out).expanduser()
    place = target
    while not place.exists() and place != place.parent:
        place = place.parent
    if place != target and not place.is_dir():
        raise VislabError(f"cannot write --out {target}: {place} is a file, not a folder; choose another --out")
    if not os.access(place, os.W_OK):
        raise VislabError(f"cannot write --out {target}: {place} does not take writes; choose another --out")


def readable(files: list[Path]) -> list[Path]:
    """The files that decode as images (``data.skip_corrupt``), the others counted on stderr; none is bad input.
    Each file is decoded here and again by the task: the price of skipping, paid only when asked for."""
    from .data.files.images import prefetched, read_image, unreadable_errors

    errors = unreadable_errors()

    def problem(path: Path) -> Optional[str]:
        try:
            read_image(path, None)
        except errors as e:
            return str(e)
        return None

    problems = list(prefetched(files, problem))
    bad = [(f, p) for f, p in zip(files, problems) if p is not None]
    if files and len(bad) == len(files):
        raise VislabError(f"none of the {len(files)} images can be read (first: {bad[0][0]}: {bad[0][1]})")
    if bad:
        print(f"vislab: skipped {len(bad)} unreadable image{'s' if len(bad) > 1 else ''} (data.skip_corrupt): "
              + ", ".join(str(f) for f, _ in bad[:3]) + (" ..." if len(bad) > 3 else ""), file=sys.stderr)
    return [f for f, p in zip(files, problems) if p is None]


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
    logits, targets, _ = split_logits(r, split, use="calibrate fits a temperature to")
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
    """One device of whatever kind is here, for evaluation and prediction of a finished run; on a CPU with
    torch's threads planned as training plans them (what other processes leave free, ``train.threads``)."""
    import torch

    from .engine import make_fabric
    from .engine.hardware import cpu_threads, resolve_precision

    precision = resolve_precision(cfg.train)
    if precision == "16-mixed" and not torch.cuda.is_available():
        precision = "32-true"
    train = dataclasses.replace(cfg.train, accelerator="auto", devices=1, num_nodes=1, strategy="auto", precision=precision)
    fabric = make_fabric(train)
    cpu_threads(train, fabric)
    return fabric
