"""`vislab sweep`: an Optuna study over a grid (or a TPE search), each trial an ordinary run directory.

    RUNS/sweeps/<name>/
      study.db                      the Optuna study (SQLite), or storage.txt naming the --storage database
      <recipe>/<time>-trial-0003/   one run directory per trial, read by compare, eval and predict
      logs/trial-0003.log           what a worker process printed, and why a trial failed

Grid points go into the study's trial queue when the study is created; search trials are sampled by
TPE with median pruning on the validation curve. A trial is claimed by moving it from the queue to
RUNNING (atomic in the database, serialized by a lock file on one machine), so no point runs twice.
On ``--resume``, trials whose process is gone are marked failed, and every point that is missing or
whose attempts all failed is queued again; a retried point continues its last run directory from
checkpoints/last.pt when it has one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from ...errors import VislabError
from ...runs import check_name, ensure_dir
from .claims import claim, prepare
from .space import Param
from .spec import SweepSpec, build_spec
from .storage import check_storage_url, default_storage, masked, storage_url, sweeps_dir
from .study import Sweep, open_sweep
from .summary import resume_command


def sweep(
    recipe: Optional[str | Path] = None,
    overrides: Optional[dict[str, Any]] = None,
    grid: Optional[dict[str, list]] = None,
    ranges: Optional[dict[str, Param | str]] = None,
    *,
    seeds: Optional[int | str] = None,
    search: str = "grid",
    trials: Optional[int] = None,
    max_seeds: Optional[int] = None,
    baseline: Optional[dict[str, Any]] = None,
    min_effect: Optional[float] = None,
    workers: int = 1,
    gpus_per_trial: Optional[int] = None,
    storage: Optional[str] = None,
    name: Optional[str] = None,
    resume: bool = False,
    runs_dir: Optional[str | Path] = None,
    prune: bool = True,
    show: bool = True,
) -> Sweep:
    """Run (or continue) a sweep; returns it when every point has been tried.

    ``vislab.sweep("digits", {"train.epochs": 2}, {"optim.name": ["adam", "sgd"]}, seeds=3)`` trains six
    runs under RUNS/sweeps/<name>/. ``ranges`` with ``search="tpe"`` searches instead, e.g.
    ``{"optim.lr": "loguniform(1e-4,1e-2)"}``. ``resume=True`` continues the sweep called ``name``
    (without a name: the newest sweep of this recipe with the same settings), or joins it from
    another machine when ``storage`` is a shared database. ``seeds="auto", max_seeds=N`` adds seeds in rounds
    until each grid point's comparison with ``baseline`` (default: the first value of each key) is decided.
    """
    from .display import Display
    from .space import parse_range
    from .workers import make_pool, plan_slots, stop_on_signals

    if name is not None:
        check_name(name)
    if storage is not None:
        check_storage_url(storage)
    slots = plan_slots(workers, gpus_per_trial)
    spec = None
    if recipe is not None:
        parsed = {k: parse_range(k, v) if isinstance(v, str) else v for k, v in (ranges or {}).items()}
        spec = build_spec(recipe, overrides or {}, grid or {}, parsed, seeds=seeds, search=search, trials=trials, prune=prune,
                          max_seeds=max_seeds, baseline=baseline, min_effect=min_effect)
    elif not (resume and name):
        raise VislabError("name a recipe to sweep (vislab sweep RECIPE key=v1,v2 ...), or --resume --name NAME")
    root = ensure_dir(sweeps_dir(runs_dir) / "sweeps")
    if name is None:
        name = _latest_match(root, spec) if resume else f"{spec.recipe}-{time.strftime('%Y%m%d-%H%M%S')}"
    check_name(name)
    sweep_dir = root / name
    if spec is None and storage is None and not (sweep_dir / "study.db").is_file() and not (sweep_dir / "storage.txt").is_file():
        raise VislabError(f"no sweep named {name} under {root}; give the recipe and its values to start it")
    sweep_dir = ensure_dir(sweep_dir, "sweep directory")
    opened = open_sweep(name, sweep_dir, storage_url(sweep_dir, storage), spec, resume)
    if opened.storage_url != default_storage(sweep_dir):
        (sweep_dir / "storage.txt").write_text(masked(opened.storage_url) + "\n")
    pool = make_pool(opened, slots, in_process=workers == 1 and gpus_per_trial is None)
    prepare(opened)
    with Display(opened, show) as display, stop_on_signals():
        drive(opened, pool, display)
    return opened


def drive(sweep: Sweep, pool: Any, display: Any) -> None:
    """Keep every worker slot busy until nothing is left to claim, then wait for the running trials."""
    exhausted = False
    try:
        while True:
            while not exhausted and pool.free_slot() is not None:
                trial = claim(sweep)
                if trial is None:
                    exhausted = True
                else:
                    display.started(trial.number)
                    pool.start(pool.free_slot(), trial)
            for number in pool.collect(timeout=1.0):
                display.finished(number)
            if exhausted and not pool.busy():
                if not (sweep.spec.auto and next_round(sweep)):
                    return
                exhausted = False

    except KeyboardInterrupt:
        for number in pool.stop():
            display.finished(number)
        display.note(f"stopped; continue with: {resume_command(sweep)}")
        raise KeyboardInterrupt from None  # one command: not also a trial's `vislab train --resume`


def next_round(sweep: Sweep) -> bool:
    """--seeds auto: queue the seeds the finished round asks for; False when every comparison is decided."""
    prepare(sweep)
    return any(t.state.name == "WAITING" for t in sweep.trials())


def _latest_match(root: Path, spec: Optional[SweepSpec]) -> str:
    """The newest sweep under ``root`` (SQLite studies) that runs ``spec``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for path in sorted(root.glob("*/study.db"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            study = optuna.load_study(study_name=path.parent.name, storage=default_storage(path.parent))
        except KeyError:
            continue
        stored = study.user_attrs.get("vislab")
        if stored is not None and SweepSpec(**stored) == spec:
            return path.parent.name
    raise VislabError(f"no sweep under {root} runs these settings; start it without --resume, or give --name NAME")


