"""`vislab sweep` on real digits runs: the grid, the study, failures, resuming after Ctrl-C or a kill,
worker processes, and pruning."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest

from vislab.errors import VislabError
from vislab.experiments.sweep.claims import claim
from vislab.experiments.sweep.space import parse_items, parse_range
from vislab.experiments.sweep.spec import build_spec
from vislab.experiments.sweep.storage import default_storage
from vislab.experiments.sweep.study import open_sweep
from vislab.experiments.sweep.workers import plan_slots
from vislab.runs import Run, find_runs

SRC = Path(__file__).resolve().parents[2] / "src"
QUICK = ["train.epochs=1", "data.limit=120", "train.batch_size=32"]  # a trial in about a second


def study_of(sweep_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name=sweep_dir.name, storage=default_storage(sweep_dir))


def press_ctrl_c_after_an_epoch(sweep_dir: Path) -> None:
    """Ctrl-C to this process (from a thread) once a trial of ``sweep_dir`` finished an epoch, while the
    sweep's own SIGINT handler is in place."""
    before = signal.getsignal(signal.SIGINT)

    def press() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if list(sweep_dir.glob("digits/*/metrics.csv")) and signal.getsignal(signal.SIGINT) is not before:
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    threading.Thread(target=press, daemon=True).start()


def test_the_issue_example_is_a_grid_of_six_points():
    fixed, grid, ranges = parse_items(["optim.name=adam,sgd", "train.epochs=2"])
    spec = build_spec("digits", fixed, grid, ranges, seeds=3, search="grid", trials=None, prune=True)
    assert spec.trials == 6 and (spec.monitor, spec.mode) == ("val_acc", "max")
    assert [(p["optim.name"], p["train.seed"]) for p in spec.space.grid_points()] == [
        ("adam", 0), ("sgd", 0), ("adam", 1), ("sgd", 1), ("adam", 2), ("sgd", 2),
    ]


def test_a_grid_sweep_makes_one_ordinary_run_per_point(small_sweep):
    sweep_dir, code, out = small_sweep
    assert code == 0, out
    runs = list(find_runs(sweep_dir))
    settings = sorted((r.config.optim.name, r.config.train.seed) for r in runs)
    assert settings == [("adam", 0), ("adam", 1), ("sgd", 0), ("sgd", 1)]
    assert all(r.summary["status"] == "completed" and r.config.train.epochs == 2 for r in runs)
    trials = study_of(sweep_dir).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    for t in trials:  # each trial's value is its run's best val_acc, and its curve was reported per epoch
        run = Run(t.user_attrs["run_dir"])
        assert t.value == run.summary["best_value"]
        assert t.intermediate_values == {row["epoch"]: row["val_acc"] for row in run.history}
    assert "4 of 4 done" in out and "best val_acc" in out


def test_a_one_point_sweep_runs(main, tmp_path):
    code, out, err = main("sweep", "digits", "optim.lr=0.003", "--seeds", "1", *QUICK, "--runs-dir", tmp_path)
    assert code == 0, err
    assert "1 of 1 done" in out and [r.summary["status"] for r in find_runs(tmp_path)] == ["completed"]


def test_a_failing_trial_is_recorded_and_resume_reruns_only_it(main, tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"  # any SQLAlchemy URL, e.g. a database several machines share
    args = ["sweep", "digits", "optim.name=sgd", "optim.lr=0.01,1e6", *QUICK, "--name", "f", "--storage", storage]
    code, out, err = main(*args)
    sweep_dir = tmp_path / "runs" / "sweeps" / "f"
    assert code == 1, err  # a sweep whose trials failed did not succeed
    assert err.strip() == f"vislab: 1 of 2 trials failed; their logs: {sweep_dir / 'logs' / 'trial-0001.log'}"
    assert "TrainingDiverged: the loss became nan" in out and "1 of 2 done, 1 failed" in out
    assert f"continue with: vislab sweep --resume --name f --runs-dir {tmp_path / 'runs'} --storage {storage}" in out
    assert "the loss became nan" in (sweep_dir / "logs" / "trial-0001.log").read_text()
    assert not (sweep_dir / "study.db").exists()

    code, out, err = main(*args, "--resume")
    assert code == 1 and "1 of 2 trials failed" in err
    trials = optuna.load_study(study_name="f", storage=storage).trials
    assert [(t.number, t.state.name, t.params["optim.lr"]) for t in trials] == [
        (0, "COMPLETE", 0.01), (1, "FAIL", 1e6), (2, "FAIL", 1e6),
    ]
    assert trials[2].user_attrs["retry_of"] == 1
    completed = [r for r in find_runs(sweep_dir) if r.summary.get("status") == "completed"]
    assert len(completed) == 1  # the completed point was not trained again

    code, out, err = main(*args)
    assert code == 2 and "sweep f exists" in err and "--resume" in err
    code, out, err = main(*args[:-2], "--resume")  # the --storage forgotten
    assert code == 2 and f"keeps its study in {storage}; pass that --storage URL" in err


def kill_after_an_epoch(args: list[str], runs_dir: Path) -> Run:
    """Run ``vislab sweep`` in a process and SIGKILL it once its first trial has a checkpointed epoch."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    process = subprocess.Popen([sys.executable, "-m", "vislab", *args, "--runs-dir", str(runs_dir)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(runs_dir.glob("sweeps/*/digits/*/metrics.csv")) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.kill()  # SIGKILL: no chance to record anything
    process.wait()
    killed = Run(next(runs_dir.glob("sweeps/*/digits/*/metrics.csv")).parent)
    assert killed.summary["status"] == "running"
    return killed


def test_a_killed_sweep_resumes_its_trial_from_the_last_checkpoint(main, tmp_path):
    runs_dir = tmp_path / "runs"
    args = ["sweep", "digits", "optim.lr=0.003", "--seeds", "2", "train.epochs=3", "data.limit=120"]
    killed = kill_after_an_epoch(args, runs_dir)

    code, out, err = main(*args, "--resume")  # the same command: the newest sweep with these settings
    assert code == 0, err
    trials = study_of(killed.dir.parent.parent).trials
    assert trials[0].state.name == "FAIL" and "lost" in trials[0].user_attrs["error"]
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.params["train.seed"] for t in done) == [0, 1]  # each point exactly once
    retry = next(t for t in done if t.user_attrs.get("retry_of") == 0)
    assert Path(retry.user_attrs["run_dir"]) == killed.dir  # continued in place, not started over
    summary = killed.summary
    assert summary["status"] == "completed" and summary["resumed_from_epoch"] >= 2
    assert [row["epoch"] for row in killed.history] == [1, 2, 3]


@pytest.mark.slow
def test_a_killed_trial_whose_point_another_machine_also_queued_resumes_from_its_checkpoint(main, tmp_path):
    """Two machines that start a sweep at once both queue its points; the second claim of a point is
    recorded as a failed twin that never ran, and must not be what the retry continues."""
    runs_dir = tmp_path / "runs"
    args = ["sweep", "digits", "optim.lr=0.003", "--seeds", "1", "train.epochs=3", "data.limit=120"]
    killed = kill_after_an_epoch(args, runs_dir)
    sweep_dir = killed.dir.parent.parent
    sweep = open_sweep(sweep_dir.name, sweep_dir, default_storage(sweep_dir))
    sweep.study.enqueue_trial(sweep.trials()[0].params)  # the other machine's copy of the killed trial's point
    assert claim(sweep) is None  # its twin is recorded as not run, and nothing else is left to start
    twin = sweep.trials()[1]
    assert twin.state.name == "FAIL" and twin.user_attrs["error"] == "not run: trial 0 runs the same point"

    code, out, err = main(*args, "--resume")
    assert code == 0, err
    retry = next(t for t in study_of(sweep_dir).trials if t.state.name == "COMPLETE")
    assert retry.user_attrs["retry_of"] == 0 and Path(retry.user_attrs["run_dir"]) == killed.dir
    assert [row["epoch"] for row in killed.history] == [1, 2, 3] and killed.summary["resumed_from_epoch"] >= 2
    assert [r.dir for r in find_runs(sweep_dir)] == [killed.dir]  # continued in place, not started over beside it


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_and_resume_finishes_without_repeating(main, tmp_path):
    sweep_dir = tmp_path / "runs" / "sweeps" / "c"
    args = ["sweep", "digits", "optim.name=adam,sgd", "train.epochs=3", "data.limit=120", "--name", "c"]
    press_ctrl_c_after_an_epoch(sweep_dir)
    code, out, err = main(*args, "--workers", "2")
    assert code == 130 and "vislab: interrupted" in err
    assert "continue with: vislab sweep --resume --name c" in out
    trials = study_of(sweep_dir).trials
    assert all(t.state.name in ("COMPLETE", "FAIL") for t in trials)  # no trial left running
    assert len({t.user_attrs["pid"] for t in trials}) == 2  # two worker processes
    interrupted = [t for t in trials if t.state.name == "FAIL"]
    assert interrupted and all(t.user_attrs["error"] == "interrupted" for t in interrupted)

    code, out, err = main(*args, "--resume")  # one trial at a time, in this process
    assert code == 0, err
    trials = study_of(sweep_dir).trials
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert sorted(t.params["optim.name"] for t in done) == ["adam", "sgd"]
    runs = list(find_runs(sweep_dir))
    assert len(runs) == 2  # the interrupted runs were continued, not started again
    assert all(r.summary["epochs_completed"] == 3 and r.summary["status"] == "completed" for r in runs)


def test_ctrl_c_of_a_sweep_in_this_process_gives_one_resume_command(main, tmp_path):
    sweep_dir = tmp_path / "runs" / "sweeps" / "one"
    press_ctrl_c_after_an_epoch(sweep_dir)
    code, out, err = main("sweep", "digits", "optim.name=adam,sgd", "train.epochs=3", "data.limit=120", "--name", "one")
    assert code == 130 and err.splitlines()[-1] == "vislab: interrupted"
    assert "vislab train --resume" not in err  # not also the trial's own resume command
    assert out.count("continue with: vislab sweep --resume --name one") == 1 and "vislab train" not in out


def test_a_search_prunes_a_trial_below_the_median_curve(tmp_path):
    import vislab

    spec = build_spec("digits", {"train.epochs": 2, "data.limit": 120, "train.batch_size": 32}, {},
                      {"optim.lr": parse_range("optim.lr", "loguniform(1e-4,1e-2)")},
                      seeds=None, search="tpe", trials=6, prune=True)
    sweep_dir = tmp_path / "runs" / "sweeps" / "p"
    sweep_dir.mkdir(parents=True)
    study = open_sweep("p", sweep_dir, default_storage(sweep_dir), spec, resume=False).study
    lr = optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    for _ in range(5):  # five finished trials whose curves no real one-epoch run can reach
        study.add_trial(optuna.trial.create_trial(
            params={"optim.lr": 1e-3}, distributions={"optim.lr": lr}, value=1.0, intermediate_values={1: 1.0, 2: 1.0}
        ))
    vislab.sweep(name="p", resume=True, runs_dir=tmp_path / "runs", show=False)
    last = study_of(sweep_dir).trials[-1]
    assert last.state.name == "PRUNED" and list(last.intermediate_values) == [1]
    run = Run(last.user_attrs["run_dir"])
    assert run.summary["status"] == "pruned" and run.summary["epochs_completed"] == 1


@pytest.mark.parametrize("args, message", [
    (["optim.lrr=1e-3,1e-2"], "unknown config key 'optim.lrr'"),
    (["optim.name=adam,sgdd"], "config key 'optim.name'"),
    (["optim.lr=loguniform(1e-4,1e-2)"], "need --search tpe"),
    (["optim.lr=loguniform(1e-4,1e-2)", "--search", "tpe"], "needs --trials N"),
    (["--seeds", "2", "train.seed=1,2"], "not both"),
    ([], "nothing to sweep"),
    (["--seeds", "2", "--gpus-per-trial", "1"], "needs 1 GPUs; 0 visible"),
])
def test_bad_sweeps_exit_2_before_creating_anything(main, tmp_path, monkeypatch, args, message):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    code, out, err = main("sweep", "digits", *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "runs" / "sweeps").exists()


def test_resume_needs_a_known_sweep(main, tmp_path):
    code, _, err = main("sweep", "--resume", "--name", "nothing-here")
    assert code == 2 and "no sweep named nothing-here" in err
    assert not (tmp_path / "runs" / "sweeps" / "nothing-here").exists()


def test_workers_get_their_own_cores_threads_and_gpus(monkeypatch):
    cores = sorted(os.sched_getaffinity(0))
    slots = plan_slots(len(cores), None)
    assert [s["VISLAB_SWEEP_CPUS"] for s in slots] == [str(c) for c in cores]
    assert all(s["OMP_NUM_THREADS"] == "1" for s in slots)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5,6,7")
    slots = plan_slots(2, 2)
    assert [s["CUDA_VISIBLE_DEVICES"] for s in slots] == ["3,5", "6,7"]
    with pytest.raises(VislabError, match="needs 6 GPUs; 4 visible"):
        plan_slots(3, 2)

