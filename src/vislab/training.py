"""Training a run: a recipe (or a run to resume) -> a run directory, checked before anything is created.

``vislab.train`` (api.py) and a sweep's trials (experiments) call ``train``; a sweep checks each trial's settings
with ``training_parts`` before it starts.
"""

from __future__ import annotations

import errno
import shutil
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from . import config as config_mod
from .atomic import atomic_write_text
from .config import Config
from .errors import VislabError
from .runs import Run, check_name, default_runs_dir, ensure_dir, training_lock, write_data_info


def train(
    recipe: Optional[str | Path | dict] = None,
    *,
    resume: Optional[str | Path | Run] = None,
    runs_dir: Optional[str | Path] = None,
    name: Optional[str] = None,
    overrides: Optional[dict[str, Any]] = None,
    on_epoch: Optional[Callable[[dict[str, Any]], Optional[str]]] = None,
    announce: bool = True,
    **kwargs: Any,
) -> Run:
    """Train a recipe (a packaged name, a YAML path or a recipe mapping) with dotted overrides; returns the Run.

    ``vislab.train("digits", **{"optim.lr": 3e-3})``; ``vislab.train(resume="runs/digits/...")``
    continues an interrupted run from its last.pt. Bad input raises VislabError before any run
    directory is created. ``on_epoch(row)`` sees each metrics.csv row and may stop training by
    returning a final status (see ``engine.fit``). ``announce`` prints the new run's directory on stderr as
    soon as it exists (a sweep, whose display names the sweep's directory, turns it off).
    """
    values = {**(overrides or {}), **kwargs}
    if name is not None:
        check_name(name)
    if resume is not None:
        return _resume(resume, values, on_epoch)
    if recipe is None:
        raise VislabError("name a recipe to train (`vislab recipes` lists them), or --resume RUN_DIR")
    cfg = config_mod.resolve(recipe, values)
    runs_dir = ensure_dir(Path(runs_dir) if runs_dir else default_runs_dir())
    return _run_training(cfg, runs_dir, name, on_epoch=on_epoch, announce=announce)


def _resume(path: str | Path | Run, overrides: dict[str, Any], on_epoch: Optional[Callable] = None) -> Run:
    run = path if isinstance(path, Run) else Run.load(path)
    for folder in (run.dir, run.checkpoint_path().parent):
        ensure_dir(folder, "run directory", "copy the run directory somewhere writable and resume the copy")
    with training_lock(run):
        cfg, checkpoint, notes = _resume_plan(run, overrides)
        return _run_training(cfg, run.dir.parent.parent, None, run=run, checkpoint=checkpoint, on_epoch=on_epoch, resume_notes=notes)


def _resume_plan(run: Run, overrides: dict[str, Any]) -> tuple[Config, dict, list[str]]:
    """The config, checkpoint and notes a resume of ``run`` continues with; what cannot be resumed is bad input."""
    last = run.checkpoint_path("last")
    if not last.is_file():
        raise VislabError(
            f"{run.dir} holds no checkpoint to resume (checkpoints/last.pt is missing); "
            f"start it again with: vislab train {run.config_path}"
        )
    from .engine import load_checkpoint  # after the checks: a mistake is answered without torch's import

    checkpoint = load_checkpoint(last)
    lacking = [k for k in ("model", "optimizer", "scheduler", "state", "rng") if k not in checkpoint]
    if lacking:
        raise VislabError(f"checkpoint {last} cannot be resumed: it holds no {', '.join(lacking)}")
    from .engine.resume import change_notes, changed_settings, replanned

    cfg = config_mod.resolve(run.config_path, overrides)
    done = checkpoint["state"]["epoch"]
    trained = config_mod.resolve(checkpoint.get("config") or run.config_path)
    changes = changed_settings(config_mod.to_dict(trained), config_mod.to_dict(cfg), overrides, run.config_path, done)
    if done >= cfg.train.epochs and run.summary.get("status") == "completed":
        raise VislabError(
            f"{run.dir} already finished {done} of train.epochs={cfg.train.epochs}; pass train.epochs=N to train longer"
        )
    if "train.epochs" in changes:
        checkpoint = replanned(checkpoint, cfg.sched, cfg.train.epochs)
    return cfg, checkpoint, [*run.summary.get("resume_notes", []), *change_notes(changes, done)]


def _run_training(
    cfg: Config,
    runs_dir: Path,
    name: Optional[str],
    run: Optional[Run] = None,
    checkpoint: Optional[dict] = None,
    on_epoch: Optional[Callable] = None,
    resume_notes: Optional[list[str]] = None,
    announce: bool = True,
) -> Run:
    bundle, task, model = training_parts(cfg)
    from .engine import configure_backends, describe_checkpoint, load_weights, make_fabric
    from .engine.fit import fit_prepared, prepare

    fabric = make_fabric(cfg.train)
    if run is not None and checkpoint is not None:  # checked before anything in the run directory changes
        load_weights(model, checkpoint["model"], describe_checkpoint(run.checkpoint_path("last"), checkpoint))
        check_split_files(run, bundle.files)
    fabric.launch()  # with several devices this starts the other processes, which re-run up to here
    configure_backends(cfg.train, fabric)
    session = prepare(cfg, bundle, model, task, fabric, checkpoint)  # fit's own checks, before the run exists
    created = run is None and fabric.is_global_zero
    if created:
        run = Run.create(runs_dir, cfg.recipe, name)
        if announce:  # to find the run while it runs, or after a kill
            print(f"vislab: run directory {run.dir}", file=sys.stderr)
    # A resume holds the lock from its first check on (see _resume).
    with removed_unless_checkpointed(run if created else None), training_lock(run) if created else nullcontext():
        if fabric.is_global_zero:
            config_mod.save(cfg, run.config_path)
            write_split_files(run, bundle.files)
            write_data_info(run, bundle.info)
            for note in bundle.notes:
                print(f"vislab: {note}", file=sys.stderr)
            if bundle.notes:
                run.update_summary(data_notes=bundle.notes)
            if resume_notes:
                run.update_summary(resume_notes=resume_notes)
        run = Run(fabric.broadcast(str(run.dir) if fabric.is_global_zero else None, src=0))
        fit_prepared(session, run, on_epoch)
    return run


def training_parts(cfg: Config, bundle: Any = None) -> tuple[Any, Any, Any]:
    """(data bundle, task, model) of a run of ``cfg``, built and checked as training needs them: the scheme, the
    keys each builder reads, parameter groups, progressive sizes. Bad input raises VislabError before anything
    is created; `vislab sweep` checks each trial's settings with it. ``bundle``: the data when already built
    for this config's data.* and aug.* keys."""
    from .schemes.settings import check as check_schemes

    check_schemes(cfg)  # on the config alone, before torch is imported
    from . import data, tasks
    from .engine import optim, progressive, seed_all
    from .schemes.task import wrap

    seed_all(cfg.train.seed)  # the model's first weights, and any draw in building the data, follow train.seed
    if bundle is None:
        bundle = data.bootstrapped(data.build(cfg.data, cfg.aug), cfg.data, cfg.train.seed)
    task = wrap(tasks.build(cfg, bundle.info), cfg, bundle)
    model = task.build_model(cfg, bundle.info)
    optim.param_groups(cfg.optim, model)  # groups and schedules this model cannot have: bad input before the run exists
    progressive.check(cfg, model)
    return bundle, task, model


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
