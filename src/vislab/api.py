"""The Python API. The CLI calls these same functions.

    run = vislab.train("digits", **{"optim.lr": 3e-3})
    vislab.evaluate(run, split="test")
"""

from __future__ import annotations

import dataclasses
import errno
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from . import config as config_mod
from .atomic import atomic_write_text
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
    from .engine import configure_backends, fit, load_weights, make_fabric, seed_all

    fabric = make_fabric(cfg.train)
    seed_all(cfg.train.seed)
    bundle = data.build(cfg.data, cfg.aug)
    model = models.build(cfg.model, bundle.info)
    if run is not None and checkpoint is not None:  # checked before anything in the run directory changes
        load_weights(model, checkpoint["model"], describe_checkpoint(run.checkpoint_path("last"), checkpoint))
    task = tasks.build(cfg, bundle.info)
    if run is not None:
        check_split_files(run, bundle.files)
    fabric.launch()  # with several devices this starts the other processes, which re-run up to here
    configure_backends(cfg.train, fabric)
    created = run is None and fabric.is_global_zero
    if fabric.is_global_zero:
        run = run or Run.create(runs_dir, cfg.recipe, name)
    with removed_unless_checkpointed(run if created else None):
        if fabric.is_global_zero:
            config_mod.save(cfg, run.config_path)
            write_split_files(run, bundle.files)
            write_data_info(run, bundle.info)
            for note in bundle.notes:
                print(f"vislab: {note}", file=sys.stderr)
            if bundle.notes:
                run.update_summary(data_notes=bundle.notes)
        run = Run(fabric.broadcast(str(run.dir) if fabric.is_global_zero else None, src=0))
        fit(cfg, bundle, model, task, run, fabric, resume=checkpoint, on_epoch=on_epoch)
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


def check_split_files(run: Run, files: dict[str, list[str]]) -> None:
    """A resumed run must see the split it started with (splits/<split>.txt); a changed folder is bad input."""
    for split, names in files.items():
        saved = run.dir / "splits" / f"{split}.txt"
        if saved.is_file() and saved.read_text().splitlines() != names:
            raise VislabError(
                f"the data changed since {run.dir} started: {saved} lists other files than the {split} split has now; "
                "restore the files, or start a new run"
            )


def write_data_info(run: Run, info: Any) -> None:
    """data_info.json: what predict needs to know about the data (classes, channels, statistics) without it."""
    import json

    atomic_write_text(run.dir / "data_info.json", json.dumps(dataclasses.asdict(info), indent=2) + "\n")


def read_data_info(run: Run) -> Any:
    """The DataInfo saved by ``write_data_info``, or None for a run that has none."""
    import json

    from .data.bundle import DataInfo

    path = run.dir / "data_info.json"
    if not path.is_file():
        return None
    values = json.loads(path.read_text())
    if values.get("image_size") is not None:
        values["image_size"] = tuple(values["image_size"])
    return DataInfo(**values)


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
    from .engine import load_checkpoint, load_weights

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
    run: str | Path | Run, split: str = "val", checkpoint: str = "best", overrides: Optional[dict[str, Any]] = None
) -> dict[str, float]:
    """Metrics of a run's checkpoint on a split (``val_acc`` ...); also saved as eval_<split>_<checkpoint>.json."""
    import json

    from . import tasks
    from .engine import evaluate as evaluate_split
    from .engine import make_loader

    if split not in ("train", "val", "test"):
        raise VislabError(f"--split must be train, val or test, not '{split}'")
    r = restore(run, checkpoint, overrides)
    dataset = getattr(r.bundle, split)
    if dataset is None:
        raise VislabError(f"dataset {r.cfg.data.name} has no {split} split in this run's configuration")
    task = tasks.build(r.cfg, r.info)
    loader = make_loader(r.cfg, dataset, r.fabric, r.bundle, train=False)
    metrics = {f"{split}_{k}": v for k, v in evaluate_split(r.model, loader, task, r.fabric, r.cfg).items()}
    atomic_write_text(r.run.dir / f"eval_{split}_{checkpoint}.json", json.dumps(metrics, indent=2) + "\n")
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
    for inference (``eval.sliding_window=[256,256]``). Options the task does not take are bad input.
    """
    import inspect

    from . import tasks
    from .data.images import image_files

    r = restore(run, checkpoint, overrides, with_data=False)
    task = tasks.build(r.cfg, r.info)
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


def augment_preview(
    recipe: str | Path, out: str | Path = "augment.png", overrides: Optional[dict[str, Any]] = None, count: int = 16
) -> Path:
    """A PNG of ``count`` training samples as the training pipeline makes them, each beside its original."""
    from . import data
    from .data.preview import save_augment_grid

    cfg = config_mod.resolve(recipe, overrides)
    return save_augment_grid(cfg, data.build(cfg.data, cfg.aug), Path(out), count)


def single_device_fabric(cfg: Config) -> Any:
    """One device of whatever kind is here, for evaluation and prediction of a finished run."""
    import torch

    from .engine import make_fabric

    precision = cfg.train.precision
    if precision == "16-mixed" and not torch.cuda.is_available():
        precision = "32-true"
    train = dataclasses.replace(cfg.train, accelerator="auto", devices=1, num_nodes=1, strategy="auto", precision=precision)
    return make_fabric(train)
