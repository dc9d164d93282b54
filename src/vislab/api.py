"""The Python API. The CLI calls these same functions.

    run = vislab.train("digits", **{"optim.lr": 3e-3})
    vislab.evaluate(run, split="test")
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional

from . import config as config_mod
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
        raise VislabError(f"{run.dir} holds no checkpoint to resume (checkpoints/last.pt is missing)")
    checkpoint = load_checkpoint(last)
    cfg = config_mod.resolve(run.config_path, overrides)
    done = checkpoint["state"]["epoch"]
    if done >= cfg.train.epochs:
        raise VislabError(
            f"{run.dir} already finished {done} of train.epochs={cfg.train.epochs}; pass train.epochs=N to train longer"
        )
    return _run_training(cfg, run.dir.parent.parent, None, run=run, checkpoint=checkpoint)


def _run_training(
    cfg: Config, runs_dir: Path, name: Optional[str], run: Optional[Run] = None, checkpoint: Optional[dict] = None
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
        write_data_info(run, bundle.info)
    run = Run(fabric.broadcast(str(run.dir) if fabric.is_global_zero else None, src=0))
    fit(cfg, bundle, model, task, run, fabric, resume=checkpoint)
    return run


def write_split_files(run: Run, files: dict[str, list[str]]) -> None:
    """splits/<split>.txt: the files of each split, one per line, so the split can be checked and repeated."""
    if not files:
        return
    (run.dir / "splits").mkdir(exist_ok=True)
    for split, names in files.items():
        (run.dir / "splits" / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))


def write_data_info(run: Run, info: Any) -> None:
    """data_info.json: what predicting needs to know of the data (classes, channels, mean/std), so a run
    predicts on new images without its dataset on disk."""
    import json

    from .atomic import atomic_write_text

    atomic_write_text(run.dir / "data_info.json", json.dumps(dataclasses.asdict(info), indent=2) + "\n")


def read_data_info(run: Run, cfg: Config) -> Any:
    """The run's DataInfo from data_info.json, or from its dataset when the run predates that file."""
    import json

    from . import data

    path = run.dir / "data_info.json"
    if not path.is_file():
        return data.build(cfg.data, cfg.aug).info
    values = json.loads(path.read_text())
    values["image_size"] = tuple(values["image_size"]) if values.get("image_size") else None
    return data.DataInfo(**values)


def image_files(inputs: list[str | Path]) -> list[Path]:
    """Image files named, or found directly inside named folders (sorted); a missing path is bad input."""
    from .data.segmentation import IMAGE_EXTENSIONS

    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        elif item.is_file():
            files.append(item)
        else:
            raise VislabError(f"{item} is neither an image file nor a folder")
    if not files:
        raise VislabError(f"no images in {', '.join(map(str, inputs))} (extensions {', '.join(IMAGE_EXTENSIONS)})")
    return files


def predict(
    run: str | Path | Run,
    inputs: list[str | Path],
    out: Optional[str | Path] = None,
    checkpoint: str = "best",
    overrides: Optional[dict[str, Any]] = None,
) -> list[dict[str, str]]:
    """Predict on image files or folders with a run's checkpoint; writes under ``out`` (default
    RUN_DIR/predictions) what the task makes of each image and returns one row of paths per image."""
    from . import models, tasks
    from .engine import load_checkpoint, load_weights

    run = run if isinstance(run, Run) else Run.load(run)
    files = image_files(inputs)
    state = load_checkpoint(run.checkpoint_path(checkpoint))
    cfg = config_mod.resolve(run.config_path, {"model.pretrained": False, **(overrides or {})})
    info = read_data_info(run, cfg)
    task = tasks.build(cfg, info)
    if not hasattr(task, "predict_files"):
        raise VislabError(f"vislab predict does not handle {info.task} runs yet")
    model = models.build(cfg.model, info)
    load_weights(model, state["model"], f"checkpoint {run.checkpoint_path(checkpoint)}")
    device = single_device_fabric(cfg).device
    out_dir = Path(out).expanduser() if out else run.dir / "predictions"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VislabError(f"cannot create output folder {out_dir}: {e.strerror}; choose another with --out") from None
    return task.predict_files(model.to(device), files, out_dir, device)


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
