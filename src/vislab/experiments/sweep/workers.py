"""Running claimed trials: one at a time in this process, or N at once in worker processes.

A trial trains through the ordinary API (``vislab.train``), reports its validation curve to the study
epoch by epoch (for median pruning and the live display), and tells the study how it ended. Worker
processes get their share of the CPU cores (pinned, with OMP_NUM_THREADS to match) and, with
``--gpus-per-trial``, their own CUDA_VISIBLE_DEVICES.

    python -m vislab.experiments.sweep.workers NAME SWEEP_DIR TRIAL_ID   (storage URL in $VISLAB_SWEEP_STORAGE)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from ...errors import VislabError
from ...runs import Run
from .claims import fail
from .space import SEED
from .storage import HEARTBEAT_S
from .study import SEED_STEP, Sweep, open_sweep, trial_dir_name

STORAGE_ENV = "VISLAB_SWEEP_STORAGE"
CPUS_ENV = "VISLAB_SWEEP_CPUS"
STOP_WAIT_S = 60  # how long stopped workers get to checkpoint and report before they are killed


# ----------------------------------------------------------------------------------------------
# One trial
# ----------------------------------------------------------------------------------------------


def run_trial(sweep: Sweep, trial: Any) -> None:
    """Train a claimed trial and tell the study how it ended. A failure is recorded, not raised;
    Ctrl-C is recorded as a failure (so ``--resume`` retries it) and raised."""
    import optuna

    values = sweep.space.suggest(trial)
    previous = resumable_attempt(sweep, trial) if sweep.spec.seeds_per_trial == 1 else None
    trial.set_user_attr("pid", os.getpid())
    if previous is not None:
        trial.set_user_attr("run_dir", str(previous.dir))
        for row in previous.history:
            report(sweep, trial, row)
    with heartbeat(sweep, trial._trial_id):
        try:
            runs = [_train(sweep, trial, values, previous)] if sweep.spec.seeds_per_trial == 1 else _train_seeds(sweep, trial, values)
        except KeyboardInterrupt:
            fail(sweep, trial._trial_id, "interrupted")
            raise
        except Exception as e:
            _log_failure(sweep, trial.number, e)
            fail(sweep, trial._trial_id, f"{type(e).__name__}: {e}".splitlines()[0])
            return
    trial.set_user_attr("run_dir", str(runs[0].dir))
    summaries = [run.summary for run in runs]
    if any(summary.get("status") == "pruned" for summary in summaries):
        sweep.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    elif any(summary.get("best_value") is None for summary in summaries):
        fail(sweep, trial._trial_id, f"the run recorded no {sweep.spec.monitor}")
    else:
        sweep.study.tell(trial, sum(s["best_value"] for s in summaries) / len(summaries))


def _train_seeds(sweep: Sweep, trial: Any, values: dict[str, Any]) -> list[Run]:
    """--search tpe --seeds K: the trial's setting trained with seeds 0..K-1 (run directories trial-NNNN-seedK),
    stopping at the first pruned one. A retried trial trains its seeds afresh."""
    runs = []
    for seed in range(sweep.spec.seeds_per_trial):
        name = f"{trial_dir_name(trial.number)}-seed{seed}"
        runs.append(_train(sweep, trial, {**values, SEED: seed}, None, name=name, step=seed * SEED_STEP))
        if runs[-1].summary.get("status") == "pruned":
            break
    trial.set_user_attr("run_dirs", [str(r.dir) for r in runs])
    return runs


def _train(sweep: Sweep, trial: Any, values: dict[str, Any], previous: Optional[Run], name: Optional[str] = None,
           step: int = 0) -> Run:
    from ... import training

    def on_epoch(row: dict[str, Any]) -> Optional[str]:
        report(sweep, trial, row, step)
        return "pruned" if sweep.spec.prune and trial.should_prune() else None

    if previous is not None:
        return training.train(resume=previous, on_epoch=on_epoch)
    return training.train(
        sweep.spec.base_config(),
        runs_dir=sweep.dir,
        name=name or trial_dir_name(trial.number),
        overrides={**values, "train.progress": False},  # the sweep's display replaces the per-run bar
        on_epoch=on_epoch,
        announce=False,  # and names the sweep's directory
    )


def report(sweep: Sweep, trial: Any, row: dict[str, Any], step: int = 0) -> None:
    """One epoch's objective, as the study's intermediate value at step = ``step`` + epoch."""
    value = row.get(sweep.spec.monitor)
    if isinstance(value, (int, float)):
        trial.report(float(value), step + int(row["epoch"]))


def attempt_dir(sweep: Sweep, trial: Any) -> Optional[Path]:
    """The run directory a trial trained in, if it got that far."""
    if "run_dir" in trial.user_attrs:
        return Path(trial.user_attrs["run_dir"])
    return next(iter(sorted(sweep.dir.glob(f"*/*-{trial_dir_name(trial.number)}"))), None)


def resumable_attempt(sweep: Sweep, trial: Any) -> Optional[Run]:
    """The failed attempt this retry continues: its run directory with a last.pt and epochs still to train."""
    number = trial.user_attrs.get("retry_of")
    if number is None:
        return None
    previous = next(t for t in sweep.trials() if t.number == number)
    path = attempt_dir(sweep, previous)
    if path is None or not (path / "checkpoints" / "last.pt").is_file():
        return None
    from ...engine import load_checkpoint

    run = Run(path)
    try:  # the checkpoint, not summary.json, which a kill can leave an epoch behind
        done = load_checkpoint(run.checkpoint_path("last"))["state"]["epoch"]
        return run if done < run.config.train.epochs else None
    except VislabError:
        return None


@contextmanager
def heartbeat(sweep: Sweep, trial_id: int) -> Iterator[None]:
    """Beat every HEARTBEAT_S while the trial runs, so another machine's --resume can tell it is alive."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                sweep.storage.record_heartbeat(trial_id)
            except Exception:  # best effort: a missed beat only matters after GRACE_S of them
                pass
            if stop.wait(HEARTBEAT_S):
                return

    thread = threading.Thread(target=beat, name="vislab-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _log_failure(sweep: Sweep, number: int, error: Exception) -> None:
    """logs/trial-N.log: the message of bad input, the whole traceback of anything else (a bug)."""
    path = sweep.log_path(number)
    with open(path, "a") as f:
        if isinstance(error, VislabError):
            print(f"vislab: error: {error}", file=f)
        else:
            traceback.print_exc(file=f)


# ----------------------------------------------------------------------------------------------
# Pools: where claimed trials run
# ----------------------------------------------------------------------------------------------


def plan_slots(workers: int, gpus_per_trial: Optional[int]) -> list[dict[str, str]]:
    """The environment of each worker slot: its CPU cores and thread count, and its GPUs."""
    if workers < 1:
        raise VislabError(f"--workers must be at least 1, not {workers}")
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:
        cores = list(range(os.cpu_count() or 1))
    share = max(1, len(cores) // workers)
    gpus = visible_gpus() if gpus_per_trial else []
    if gpus_per_trial is not None:
        if gpus_per_trial < 1:
            raise VislabError(f"--gpus-per-trial must be at least 1, not {gpus_per_trial}")
        if workers * gpus_per_trial > len(gpus):
            raise VislabError(
                f"--workers {workers} x --gpus-per-trial {gpus_per_trial} needs {workers * gpus_per_trial} GPUs; "
                f"{len(gpus)} visible"
            )
    slots = []
    for i in range(workers):
        env = {
            CPUS_ENV: ",".join(str(cores[(i * share + j) % len(cores)]) for j in range(share)),
            "OMP_NUM_THREADS": str(share),
            "MKL_NUM_THREADS": str(share),
        }
        if gpus_per_trial:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus[i * gpus_per_trial : (i + 1) * gpus_per_trial])
        slots.append(env)
    return slots


def visible_gpus() -> list[str]:
    """CUDA device ids this process may hand out."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def make_pool(sweep: Sweep, slots: list[dict[str, str]], in_process: bool) -> Any:
    """Trials in this process (one at a time), or in worker processes (one per slot)."""
    return InProcessPool(sweep) if in_process else ProcessPool(sweep, slots)


class InProcessPool:
    """One slot; ``start`` trains the trial before it returns."""

    def __init__(self, sweep: Sweep) -> None:
        self.sweep = sweep
        self.done: list[int] = []

    def free_slot(self) -> Optional[int]:
        return None if self.done else 0  # report each finished trial before starting the next

    def busy(self) -> bool:
        return False

    def start(self, slot: int, trial: Any) -> None:
        try:
            run_trial(self.sweep, trial)
        finally:
            self.done.append(trial.number)

    def collect(self, timeout: float) -> list[int]:
        done, self.done = self.done, []
        return done

    def stop(self) -> list[int]:
        return self.collect(0)


class ProcessPool:
    """One worker process per busy slot, each in its own session (Ctrl-C reaches only the coordinator,
    which asks each worker once to stop, so that it checkpoints and reports)."""

    def __init__(self, sweep: Sweep, slots: list[dict[str, str]]) -> None:
        self.sweep = sweep
        self.slots = slots
        self.running: dict[int, tuple[subprocess.Popen, Any]] = {}

    def free_slot(self) -> Optional[int]:
        return next((i for i in range(len(self.slots)) if i not in self.running), None)

    def busy(self) -> bool:
        return bool(self.running)

    def start(self, slot: int, trial: Any) -> None:
        log = self.sweep.log_path(trial.number)
        src = str(Path(__file__).resolve().parents[3])  # the workers import this same vislab
        env = {
            **os.environ,
            **self.slots[slot],
            STORAGE_ENV: self.sweep.storage_url,
            "PYTHONPATH": os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])]),
        }
        with open(log, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "vislab.experiments.sweep.workers", self.sweep.name, str(self.sweep.dir), str(trial._trial_id)],
                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        trial.set_user_attr("pid", process.pid)
        self.running[slot] = (process, trial)

    def collect(self, timeout: float) -> list[int]:
        """Trials whose worker exited (waiting up to ``timeout`` for one); a worker that died silently fails its trial."""
        deadline = time.monotonic() + timeout
        while True:
            done = [slot for slot, (p, _) in self.running.items() if p.poll() is not None]
            if done or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        numbers = []
        for slot in done:
            process, trial = self.running.pop(slot)
            code = process.returncode
            fail(self.sweep, trial._trial_id, "interrupted" if code == 130 else f"worker exited with code {code}; see {self.sweep.log_path(trial.number)}")
            numbers.append(trial.number)
        return numbers

    def stop(self) -> list[int]:
        """Ask every worker to stop (SIGINT), wait for them to report, kill the ones that do not."""
        for process, _ in self.running.values():
            process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_WAIT_S
        for process, _ in self.running.values():
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return self.collect(0)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt (even where a shell started us ignoring SIGINT), so the
    trial in progress checkpoints, is recorded as interrupted, and --resume continues it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ----------------------------------------------------------------------------------------------
# The worker process
# ----------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    """Run one claimed trial: ``NAME SWEEP_DIR TRIAL_ID``, the storage URL in $VISLAB_SWEEP_STORAGE."""
    import optuna

    name, sweep_dir, trial_id = argv
    cpus = os.environ.get(CPUS_ENV)
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    try:
        with stop_on_signals():
            sweep = open_sweep(name, Path(sweep_dir), os.environ[STORAGE_ENV])
            run_trial(sweep, optuna.Trial(sweep.study, int(trial_id)))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
