"""An open sweep (``Sweep``): its Optuna study, created or loaded and checked against the spec, and the
points (grid values or searched settings) with the trials that tried each."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ...errors import VislabError
from .autoseeds import wanted_points
from .lock import locked
from .space import Space
from .spec import SweepSpec
from .storage import masked, open_storage

SEED_STEP = 10_000  # --search tpe --seeds K: seed k's epoch e is the study's step k * SEED_STEP + e (pruning compares like with like)


def trial_dir_name(number: int) -> str:
    """trial-NNNN: the name of a trial's run directory and of its log."""
    return f"trial-{number:04d}"


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
