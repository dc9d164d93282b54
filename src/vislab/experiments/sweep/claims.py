"""Queueing and claiming: lost trials failed, missing and failed points queued again, and the next trial
claimed by this process, so that no point runs twice."""

from __future__ import annotations

import os
from typing import Any, Optional

from .liveness import HOST, lost
from .lock import locked
from .storage import quiet_heartbeats
from .study import Sweep, attempts, params_of, point_of


def prepare(sweep: Sweep) -> None:
    """Fail trials whose process is gone, then queue every missing point and every point whose attempts all failed."""
    import optuna

    with locked(sweep.dir):
        with quiet_heartbeats():
            optuna.storages.fail_stale_trials(sweep.study)  # other machines: heartbeat older than GRACE_S
        for t in sweep.trials():
            if t.state.name == "RUNNING" and lost(t):
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
