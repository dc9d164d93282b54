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

import dataclasses
import fcntl
import os
import socket
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from .. import config as config_mod
from ..errors import VislabError
from ..runs import check_name, default_runs_dir, ensure_dir
from .autoseeds import auto_spec, look_lines, wanted_points
from .space import FOLD, SEED, Choice, Param, Space, describe

HOST = socket.gethostname()
SEED_STEP = 10_000  # --search tpe --seeds K: seed k's epoch e is the study's step k * SEED_STEP + e (pruning compares like with like)
HEARTBEAT_S = 20  # a RUNNING trial whose heartbeat is older than GRACE_S is failed by the next --resume
GRACE_S = 90


@contextmanager
def quiet_heartbeats() -> Iterator[None]:
    """Optuna warns that heartbeats are experimental and meant for Study.optimize; we record them ourselves."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
        yield


def trial_dir_name(number: int) -> str:
    """trial-NNNN: the name of a trial's run directory and of its log."""
    return f"trial-{number:04d}"


@dataclass
class SweepSpec:
    """What a sweep runs, stored with the study so that another machine can join it by name alone."""

    recipe: str  # the recipe's name, for display and the default sweep name
    base: str  # the resolved recipe with the fixed overrides, as YAML (so joining needs no recipe file)
    search: str  # "grid" or "tpe"
    params: dict  # Space.to_spec()
    trials: int  # grid: its size; search: how many trials
    monitor: str  # the objective, e.g. val_acc (its best value over epochs)
    mode: str  # "max" or "min"
    prune: bool
    auto: Optional[dict] = None  # --seeds auto: autoseeds.auto_spec (seeds added in rounds up to max_seeds)
    seeds_per_trial: int = 1  # --search tpe --seeds K: each trial trains seeds 0..K-1, scored by their mean

    @property
    def space(self) -> Space:
        return Space.from_spec(self.params)

    def base_config(self) -> dict:
        return config_mod.yaml_load(self.base)

    def differences(self, other: "SweepSpec") -> list[str]:
        """Names of the fields that differ, for the message when a resumed sweep does not match."""
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(other, f.name)]


def build_spec(
    recipe: str | Path,
    overrides: dict[str, Any],
    grid: dict[str, list],
    ranges: dict[str, Param],
    *,
    seeds: Optional[int | str],
    search: str,
    trials: Optional[int],
    prune: bool,
    max_seeds: Optional[int] = None,
    baseline: Optional[dict[str, Any]] = None,
    min_effect: Optional[float] = None,
) -> SweepSpec:
    """Check everything a sweep needs before anything is created: keys, value types, the objective.

    ``seeds="auto"`` with ``max_seeds`` adds seeds in rounds (see autoseeds); ``baseline`` and ``min_effect``
    go with it."""
    grid = dict(grid)
    auto = None
    if seeds == "auto":
        if search != "grid":
            raise VislabError("--seeds auto compares grid points; a search takes --seeds K (the mean over K seeds)")
        if max_seeds is None:
            raise VislabError("--seeds auto needs --max-seeds N (the most seeds a grid point may get)")
        if SEED in grid or SEED in ranges:
            raise VislabError("give either --seeds auto or train.seed=a,b,..., not both")
        auto = auto_spec(grid, max_seeds, baseline, min_effect)
        seeds = max_seeds
    elif max_seeds is not None or baseline or min_effect is not None:
        raise VislabError("--max-seeds, --baseline and --min-effect go with --seeds auto")
    if seeds is not None:
        if seeds < 1:
            raise VislabError(f"--seeds must be at least 1, not {seeds}")
        if SEED in grid or SEED in ranges:
            raise VislabError("give either --seeds N or train.seed=a,b,..., not both")
        if search != "tpe":
            grid[SEED] = list(range(seeds))
    if search == "grid":
        if ranges:
            raise VislabError(f"{', '.join(ranges)}: ranges need --search tpe; a grid takes key=v1,v2,...")
        if trials is not None:
            raise VislabError("--trials is for --search tpe; a grid runs each of its points once")
        if not grid:
            raise VislabError("nothing to sweep: give key=v1,v2,... (comma-separated values) or --seeds N")
        params: dict[str, Param] = {k: Choice(tuple(v)) for k, v in grid.items()}
    elif search == "tpe":
        if SEED in grid or SEED in ranges:
            raise VislabError("a search takes --seeds K (each trial scored by its mean over seeds 0..K-1), not train.seed values")
        if not trials or trials < 1:
            raise VislabError("--search tpe needs --trials N (how many settings to try)")
        params = {**{k: Choice(tuple(v)) for k, v in grid.items()}, **ranges}
        if not params:
            raise VislabError("nothing to search: give ranges such as optim.lr=loguniform(1e-4,1e-2)")
    else:
        raise VislabError(f"--search must be grid or tpe, not '{search}'")
    space = Space(params)
    space.check_distinct()
    cfg = config_mod.resolve(recipe, overrides)
    base = config_mod.to_dict(cfg)
    examples = [config_mod.resolve(base, example) for example in space.examples()]
    for trial_cfg in examples:
        if trial_cfg.train.devices not in (1, "1") or trial_cfg.train.num_nodes != 1:
            raise VislabError("a sweep trial trains on one device; spread trials over GPUs with --workers N --gpus-per-trial 1")
    monitor, mode = checked_objective(examples)
    return SweepSpec(
        recipe=cfg.recipe,
        base=config_mod.yaml_dump(base),
        search=search,
        params=space.to_spec(),
        trials=len(space.grid_points()) if search == "grid" else int(trials),
        monitor=monitor,
        mode=mode,
        prune=prune and search == "tpe",
        auto=auto,
        seeds_per_trial=seeds if search == "tpe" and seeds else 1,
    )


def checked_objective(configs: list[config_mod.Config]) -> tuple[str, str]:
    """Check trial configs as `vislab train` checks a run's before creating it (each dataset built once per
    distinct data.* and aug.*, seeds skipped: they change no check); return the metric a trial is scored by
    and its direction, what picks the run's best.pt."""
    from ..training import training_parts
    from ..engine.fit import monitor_of

    bundles: dict[str, Any] = {}
    checked: set[str] = set()
    objectives = []
    for cfg in configs:
        values = config_mod.to_dict(cfg)
        values["train"] = {k: v for k, v in values["train"].items() if k != "seed"}
        if config_mod.yaml_dump(values) in checked:
            continue
        checked.add(config_mod.yaml_dump(values))
        data_key = config_mod.yaml_dump({"data": values["data"], "aug": values["aug"]})
        bundles[data_key], task, _ = training_parts(cfg, bundles.get(data_key))
        objectives.append(monitor_of(cfg, task))  # which checks the monitor too, as training does
    return objectives[0]


# ----------------------------------------------------------------------------------------------
# The study
# ----------------------------------------------------------------------------------------------


@dataclass
class Sweep:
    """An open sweep: its directory, its Optuna study and what it runs."""

    name: str
    dir: Path
    spec: SweepSpec
    study: Any  # optuna.Study
    storage: Any  # optuna.storages.RDBStorage, for heartbeats
    storage_url: str

    @property
    def space(self) -> Space:
        return self.spec.space

    def trials(self) -> list[Any]:
        return self.study.get_trials(deepcopy=False)

    def log_path(self, number: int) -> Path:
        """logs/trial-NNNN.log, its folder created."""
        (self.dir / "logs").mkdir(exist_ok=True)
        return self.dir / "logs" / f"{trial_dir_name(number)}.log"

    def tally(self) -> dict[str, int]:
        """Points by state: done, pruned, running, failed, and pending (queued or not yet sampled)."""
        counts = Counter(point_states(self).values())
        counts["pending"] = self.planned() - sum(counts[s] for s in ("done", "pruned", "running", "failed"))
        return counts

    def planned(self) -> int:
        """Points to try: the grid, the trials of a search, or the points --seeds auto wants so far."""
        return len(self.grid_points()) if self.spec.auto else self.spec.trials

    def grid_points(self) -> list[dict[str, Any]]:
        """The grid points to train (with --seeds auto: those of the rounds so far)."""
        if self.spec.auto:
            return wanted_points(self.space, self.spec.auto, self.trials())
        return self.space.grid_points()

    def best(self) -> Optional[Any]:
        """The completed trial with the best objective value, if any."""
        done = [t for t in self.trials() if t.state.name == "COMPLETE"]
        if not done:
            return None
        pick = max if self.spec.mode == "max" else min
        return pick(done, key=lambda t: t.value)


def sweeps_dir(runs_dir: Optional[str | Path]) -> Path:
    return Path(runs_dir).expanduser() if runs_dir else default_runs_dir()


def default_storage(sweep_dir: Path) -> str:
    return f"sqlite:///{sweep_dir.resolve() / 'study.db'}"


def storage_url(sweep_dir: Path, given: Optional[str]) -> str:
    """The study's database: ``given``, or study.db in the sweep directory. A sweep opened with --storage
    leaves a note (storage.txt, password hidden) so that forgetting the flag later is not a fresh start."""
    note = sweep_dir / "storage.txt"
    if given is None and note.is_file():
        raise VislabError(f"sweep {sweep_dir.name} keeps its study in {note.read_text().strip()}; pass that --storage URL")
    return given or default_storage(sweep_dir)


def masked(url: str) -> str:
    """A database URL with its password hidden, for messages and notes."""
    import sqlalchemy

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def open_storage(url: str) -> Any:
    """An RDBStorage with heartbeats (SQLite waits up to a minute for a lock held by another process)."""
    import optuna
    import sqlalchemy

    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    try:
        for attempt in range(5):
            try:
                with quiet_heartbeats():
                    return optuna.storages.RDBStorage(
                        url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
                    )
            except sqlalchemy.exc.IntegrityError:
                # Workers started together on a fresh database each create Optuna's tables; all but one lose
                # that race (PostgreSQL: a duplicate pg_type row). The tables exist then: open them again.
                if attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))
    except ImportError:
        raise VislabError(f"cannot open --storage {masked(url)}: its database driver is not installed; {driver_hint(url)}") from None
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise VislabError(f"cannot open --storage {masked(url)}: {first}") from None


def check_storage_url(url: str) -> None:
    """A --storage URL that SQLAlchemy can parse and whose driver is installed (checked before anything is
    created; connecting comes later)."""
    import sqlalchemy

    try:
        sqlalchemy.engine.make_url(url).get_dialect().import_dbapi()
    except ImportError:
        raise VislabError(f"cannot open --storage {masked(url)}: its database driver is not installed; {driver_hint(url)}") from None
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError) as e:
        raise VislabError(f"--storage {masked(url)} is not a database URL SQLAlchemy knows ({e}); e.g. postgresql://user@host/db") from None


def driver_hint(url: str) -> str:
    """How to install the driver a database URL needs."""
    if url.startswith("postgresql"):
        return "pip install 'vislab[postgres]'"
    return "install the driver SQLAlchemy names for it (https://docs.sqlalchemy.org/en/20/dialects/)"


def open_sweep(name: str, sweep_dir: Path, storage_url: str, spec: Optional[SweepSpec] = None, resume: bool = True) -> Sweep:
    """Create the study for ``spec``, or load it by name (``resume``) and check it runs the same thing."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(storage_url)
    with locked(sweep_dir):
        exists = name in optuna.study.get_all_study_names(storage)
        if exists and not resume:
            raise VislabError(f"sweep {name} exists ({sweep_dir}); add --resume to continue it, or choose another --name")
        if not exists:
            if spec is None:
                raise VislabError(f"no sweep named {name} in {masked(storage_url)}; give the recipe and its values to start it")
            try:
                study = optuna.create_study(study_name=name, storage=storage, direction=_direction(spec.mode))
                study.set_user_attr("vislab", dataclasses.asdict(spec))
            except optuna.exceptions.DuplicatedStudyError:  # another machine created it a moment ago
                pass
    study = optuna.load_study(study_name=name, storage=storage)
    stored = study.user_attrs.get("vislab")
    if stored is None:
        raise VislabError(f"study {name} in {storage_url} is not a vislab sweep")
    stored = SweepSpec(**stored)
    if spec is not None and spec != stored:
        raise VislabError(
            f"sweep {name} was started with other settings ({', '.join(stored.differences(spec))} differ); "
            f"resume it with the same command, or with only --resume --name {name}"
        )
    study.sampler, study.pruner = _sampler(stored), _pruner(stored)
    return Sweep(name, sweep_dir, stored, study, storage, storage_url)


def _direction(mode: str) -> str:
    return "maximize" if mode == "max" else "minimize"


def _sampler(spec: SweepSpec) -> Any:
    import optuna

    if spec.search == "grid":
        return _queued_grid(spec.space.grid_space())
    return optuna.samplers.TPESampler()


def _queued_grid(grid: dict[str, list]) -> Any:
    """Optuna's GridSampler, less its end-of-trial check: vislab queues every grid point itself and decides
    when the grid is done (:func:`claim`), and that check reads a ``grid_id`` that only the sampler's own
    picks have, so on a one-point grid every trial's end raised KeyError."""
    import optuna

    class QueuedGrid(optuna.samplers.GridSampler):
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            pass

    return QueuedGrid(grid)


def _pruner(spec: SweepSpec) -> Any:
    import optuna

    return optuna.pruners.MedianPruner() if spec.prune else optuna.pruners.NopPruner()


# ----------------------------------------------------------------------------------------------
# Points: a grid point (or a searched setting) and the trials that tried it
# ----------------------------------------------------------------------------------------------


def params_of(trial: Any) -> dict[str, Any]:
    """A trial's values as Optuna stores them; a queued trial's are still in its fixed params."""
    return trial.params or trial.system_attrs.get("fixed_params", {})


def point_of(sweep: Sweep, trial: Any) -> Optional[Any]:
    """What a trial tries: the grid values (grid), or the setting first sampled (search); None if unset."""
    params = params_of(trial)
    if set(params) != set(sweep.space.params):
        return None  # its process died between being claimed and choosing its values
    if sweep.spec.search == "grid":
        return tuple(sorted(params.items()))
    return trial.user_attrs.get("point", trial.number)


def attempts(sweep: Sweep) -> dict[Any, list[Any]]:
    """Trials by point, in trial order; not the twins that were never run (see :func:`claim`), so that a
    retry continues the last attempt that trained, from its last.pt."""
    out: dict[Any, list[Any]] = {}
    for t in sweep.trials():
        point = point_of(sweep, t)
        if point is not None and "twin_of" not in t.user_attrs:
            out.setdefault(point, []).append(t)
    return out


_STATE_ORDER = [("COMPLETE", "done"), ("PRUNED", "pruned"), ("RUNNING", "running"), ("WAITING", "waiting")]


def point_states(sweep: Sweep) -> dict[Any, str]:
    """Each point's state: done or pruned when any attempt finished, else running, waiting, or failed."""
    states = {}
    for point, trials in attempts(sweep).items():
        names = {t.state.name for t in trials}
        states[point] = next((label for state, label in _STATE_ORDER if state in names), "failed")
    return states


# ----------------------------------------------------------------------------------------------
# Queueing and claiming
# ----------------------------------------------------------------------------------------------


@contextmanager
def locked(sweep_dir: Path) -> Iterator[None]:
    """Serialize study creation, queue changes and claims among the processes of this machine (SQLite has
    no row locks; a server database's row locks do the same between machines)."""
    with open(sweep_dir / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def prepare(sweep: Sweep) -> None:
    """Fail trials whose process is gone, then queue every missing point and every point whose attempts all failed."""
    import optuna

    with locked(sweep.dir):
        with quiet_heartbeats():
            optuna.storages.fail_stale_trials(sweep.study)  # other machines: heartbeat older than GRACE_S
        for t in sweep.trials():
            if t.state.name == "RUNNING" and _lost(t):
                fail(sweep, t._trial_id, "lost: its process ended without reporting (killed?)")
        tried = attempts(sweep)
        if sweep.spec.search == "grid":
            for params in sweep.grid_points():
                if tuple(sorted(params.items())) not in tried:
                    sweep.study.enqueue_trial(params)
        for point, trials in tried.items():
            if all(t.state.name == "FAIL" for t in trials):
                last = trials[-1]
                attrs = {"retry_of": last.number}
                if sweep.spec.search != "grid":
                    attrs["point"] = point
                sweep.study.enqueue_trial(params_of(last), user_attrs=attrs)


def claim(sweep: Sweep) -> Optional[Any]:
    """The next trial for this process (RUNNING, its values chosen), or None when nothing is left to start."""
    import optuna

    with locked(sweep.dir):
        while True:
            trials = sweep.trials()
            queued = any(t.state.name == "WAITING" for t in trials)
            sampled = sum(1 for t in trials if point_of(sweep, t) is not None and "retry_of" not in t.user_attrs)
            if not queued and (sweep.spec.search == "grid" or sampled >= sweep.spec.trials):
                return None
            with quiet_heartbeats():
                trial = sweep.study.ask()
            trial.set_user_attr("host", HOST)
            trial.set_user_attr("pid", os.getpid())
            sweep.space.suggest(trial)
            twin = _earlier_twin(sweep, trial.number)
            if twin is None:
                return trial
            # Two machines queued the same point at once: the lower-numbered trial runs it.
            trial.set_user_attr("twin_of", twin.number)
            trial.set_user_attr("error", f"not run: trial {twin.number} runs the same point")
            sweep.study.tell(trial, state=optuna.trial.TrialState.FAIL)


def _earlier_twin(sweep: Sweep, number: int) -> Optional[Any]:
    """Another attempt at the same point that finished, or that is queued or running with a lower number."""
    for trials in attempts(sweep).values():
        if any(t.number == number for t in trials):
            return next(
                (t for t in trials if t.number != number and (
                    t.state.name in ("COMPLETE", "PRUNED") or (t.state.name in ("WAITING", "RUNNING") and t.number < number)
                )),
                None,
            )
    return None


def fail(sweep: Sweep, trial_id: int, error: str) -> None:
    """Record a trial as failed with its one-line error (a no-op when it already finished)."""
    import optuna

    try:
        trial = optuna.Trial(sweep.study, trial_id)
        trial.set_user_attr("error", error)
    except optuna.exceptions.UpdateFinishedTrialError:
        return
    sweep.study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)


def _lost(trial: Any) -> bool:
    """A running trial nobody runs: its process on this machine is gone, or it was killed while being claimed."""
    if "host" not in trial.user_attrs:  # claiming sets it a moment after the trial starts
        return trial.datetime_start is None or time.time() - trial.datetime_start.timestamp() > GRACE_S
    return trial.user_attrs["host"] == HOST and not _alive(trial.user_attrs.get("pid"))


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ----------------------------------------------------------------------------------------------
# The API
# ----------------------------------------------------------------------------------------------


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


def summary_lines(sweep: Sweep) -> list[str]:
    """What the CLI prints at the end: counts, the best trial, and where the runs are."""
    counts = sweep.tally()
    text = f"sweep {sweep.name}: {counts['done']} of {sweep.planned()} done"
    for state in ("pruned", "failed", "running", "pending"):
        if counts[state]:
            text += f", {counts[state]} {state}"
    lines = [text]
    best = sweep.best()
    if best is not None:
        lines.append(f"best {sweep.spec.monitor} {best.value:.4f}: trial {best.number} ({describe(sweep.space.values(best.params))})")
    if sweep.spec.auto:
        lines += look_lines(sweep.space, sweep.spec.auto, sweep.trials())
    lines.append(f"runs: {sweep.dir}")
    if counts["failed"] or counts["pending"]:
        lines.append(f"continue with: {resume_command(sweep)}")
    return lines


def failed_logs(sweep: Sweep) -> list[Path]:
    """The log of the last attempt at each point whose attempts all failed."""
    failed = [trials[-1] for point, trials in attempts(sweep).items() if point_states(sweep)[point] == "failed"]
    return [sweep.log_path(t.number) for t in sorted(failed, key=lambda t: t.number)]


def resume_command(sweep: Sweep) -> str:
    """The command that continues this sweep (its storage URL shown without a password): a sweep over the
    folds of a cross-validation continues as `vislab crossval`, which also makes the out-of-fold predictions."""
    verb = "crossval" if FOLD in sweep.space.params else "sweep"
    text = f"vislab {verb} --resume --name {sweep.name} --runs-dir {sweep.dir.parent.parent}"
    if sweep.storage_url != default_storage(sweep.dir):
        text += f" --storage {masked(sweep.storage_url)}"
    return text
