"""Sweeps as several machines run them: two worker processes share one study in a real PostgreSQL server,
one is SIGKILLed mid-trial and resumed; and a chaos run whose workers are SIGKILLed at random.

Both count what a user would check: every grid point x seed completed exactly once, nothing left running."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest

from postgres import postgres_server
from vislab.experiments.sweep.storage import default_storage
from vislab.runs import Run, find_runs

SRC = Path(__file__).resolve().parents[2] / "src"
ENV = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}


@pytest.fixture
def postgres_url():
    yield from postgres_server()


def sweep_process(*args: object, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "vislab", "sweep", *map(str, args)], env=ENV,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_for(condition, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def completed_once(trials: list, keys: tuple[str, ...]) -> Counter:
    """How often each point was completed; and no trial is left running or queued."""
    assert not [t.number for t in trials if t.state.name in ("RUNNING", "WAITING")]
    return Counter(tuple(t.params[k] for k in keys) for t in trials if t.state.name == "COMPLETE")


def test_two_machines_share_a_postgresql_study_and_a_killed_one_resumes(postgres_url, tmp_path: Path):
    grid = ["digits", "optim.lr=0.003,0.01", "--seeds", 2, "train.epochs=4", "data.limit=64", "train.batch_size=16",
            "--name", "pg", "--storage", postgres_url, "--resume"]
    machines = {m: tmp_path / f"machine-{m}" for m in "ab"}  # each machine has its own runs directory
    for folder in machines.values():
        folder.mkdir()
    a = sweep_process(*grid, "--runs-dir", machines["a"], log=tmp_path / "a.log")
    b = sweep_process(*grid, "--runs-dir", machines["b"], log=tmp_path / "b.log")
    def training() -> list[Run]:  # a's trials with an epoch done and more to go (a fast machine may finish one first)
        runs = [Run(p.parent) for p in machines["a"].glob("sweeps/pg/digits/*/metrics.csv")]
        return [r for r in runs if r.summary.get("status") == "running"]

    wait_for(training)  # a is mid-trial
    a.kill()  # SIGKILL: nothing recorded, its trial stays "running" in the database
    a.wait()
    (killed,) = training()
    assert b.wait(timeout=300) == 0, (tmp_path / "b.log").read_text()

    resumed = subprocess.run([sys.executable, "-m", "vislab", "sweep", "--resume", "--name", "pg", "--storage", postgres_url,
                              "--runs-dir", machines["a"]], env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "4 of 4 done" in resumed.stdout and "password" not in resumed.stdout

    trials = optuna.load_study(study_name="pg", storage=postgres_url).trials
    counts = completed_once(trials, ("optim.lr", "train.seed"))
    assert counts == {(lr, seed): 1 for lr in (0.003, 0.01) for seed in (0, 1)}
    retry = next(t for t in trials if t.state.name == "COMPLETE" and "retry_of" in t.user_attrs)
    assert Path(retry.user_attrs["run_dir"]) == killed.dir  # continued from its last.pt on its own machine
    assert [row["epoch"] for row in killed.history] == [1, 2, 3, 4] and killed.summary["status"] == "completed"
    runs = [r for m in machines.values() for r in find_runs(m) if r.summary.get("status") == "completed"]
    assert len(runs) == 4 and all(any(r.dir.is_relative_to(m) for r in runs) for m in machines.values())


def worker_pids(sweep_dir: Path) -> list[int]:
    """The worker processes running trials now (as the study records them)."""
    if not (sweep_dir / "study.db").is_file():
        return []
    try:
        trials = optuna.load_study(study_name=sweep_dir.name, storage=default_storage(sweep_dir)).trials
    except Exception:  # the study is being created
        return []
    return [t.user_attrs["pid"] for t in trials if t.state.name == "RUNNING" and "pid" in t.user_attrs]


@pytest.mark.slow
def test_chaos_random_sigkills_of_workers_end_complete_after_resume(tmp_path: Path):
    rng = random.Random(18)
    runs = tmp_path / "runs"
    sweep_dir = runs / "sweeps" / "chaos"
    args = ["digits", "optim.lr=0.003,0.01,0.03", "--seeds", 4, "train.epochs=2", "data.limit=48", "train.batch_size=16",
            "--workers", 2, "--name", "chaos", "--runs-dir", runs]
    driver = sweep_process(*args, log=tmp_path / "driver.log")
    kills = 0
    while kills < 5 and driver.poll() is None:
        time.sleep(rng.uniform(0.5, 3.0))
        pids = worker_pids(sweep_dir)
        if pids:
            try:
                os.kill(rng.choice(pids), signal.SIGKILL)
                kills += 1
            except ProcessLookupError:  # it finished a moment ago
                pass
    driver.wait(timeout=600)
    assert kills == 5, "the sweep ended before five workers could be killed"
    assert driver.returncode == 1  # trials failed: the sweep says so

    resumed = subprocess.run([sys.executable, "-m", "vislab", "sweep", *map(str, args), "--resume"], env=ENV,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "12 of 12 done" in resumed.stdout
    trials = optuna.load_study(study_name="chaos", storage=default_storage(sweep_dir)).trials
    counts = completed_once(trials, ("optim.lr", "train.seed"))
    assert counts == {(lr, seed): 1 for lr in (0.003, 0.01, 0.03) for seed in range(4)}
    killed = [t for t in trials if t.state.name == "FAIL" and "code -9" in t.user_attrs.get("error", "")]
    assert len(killed) == 5
    completed = [r for r in find_runs(sweep_dir) if r.summary.get("status") == "completed"]
    assert sorted((r.config.optim.lr, r.config.train.seed) for r in completed) == sorted(counts)
