"""The run directory as a user meets it through the CLI: announced once it exists (display on or off), never
announced for a run that a check then refuses, nothing made by a sweep whose settings training would refuse,
and locked while it trains (real processes, stopped with SIGSTOP at a checkpoint, then resumed, killed or
deprived of their directory)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import SRC, run_cli
from vislab.runs import Run

QUICK = ["train.epochs=1", "train.limit_batches=2", "data.limit=64", "train.batch_size=16"]


def test_the_run_directory_is_announced_with_the_display_off(tmp_path: Path):
    proc = run_cli("train", "digits", *QUICK, "train.progress=false", "--runs-dir", tmp_path / "runs", timeout=300)
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = (tmp_path / "runs" / "digits").iterdir()
    assert proc.stderr.splitlines()[0] == f"vislab: run directory {run_dir}"


def test_a_run_refused_by_a_check_of_the_training_loop_is_neither_announced_nor_made(tmp_path: Path):
    # The monitor names the EMA weights' metric, which a run without EMA has: refused before the run exists.
    proc = run_cli("train", "digits", *QUICK, "train.monitor=val_ema_acc", "--runs-dir", tmp_path / "runs", timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "vislab: error: train.monitor=val_ema_acc names the EMA weights' metric; set train.ema.decay (e.g. 0.999) "
        "or monitor val_acc"
    ]
    assert not (tmp_path / "runs" / "digits").exists()


def test_a_sweep_over_a_key_the_model_does_not_read_is_refused_before_anything_is_made(tmp_path: Path):
    proc = run_cli("sweep", "digits", "model.depth=2,3", *QUICK, "--runs-dir", tmp_path / "runs", timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "vislab: error: config key model.depth does nothing for model.name=cnn-mnist; remove it or set model.depth=5"
    ]
    assert proc.stdout == "" and not (tmp_path / "runs" / "sweeps").exists()


# Long enough that a run is still training when its first last.pt appears: 3 epochs of 16 batches.
LONG = ["train.epochs=3", "data.limit=256", "train.batch_size=16"]


def start_training(runs: Path, *args: object) -> subprocess.Popen:
    """``vislab train ARGS`` as a real process, with the default display, its output kept."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "vislab", "train", *map(str, args), "--runs-dir", str(runs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def stopped_at_first_checkpoint(proc: subprocess.Popen, runs: Path) -> Path:
    """Wait for the run's first checkpoints/last.pt, stop the process there (SIGSTOP); its run directory."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        found = list(runs.glob("digits/*/checkpoints/last.pt"))
        if found:
            proc.send_signal(signal.SIGSTOP)
            return found[0].parent.parent
        time.sleep(0.02)
    raise AssertionError("no checkpoint within 300 s")


def test_a_second_resume_is_refused_while_the_run_trains_and_a_killed_run_resumes(tmp_path: Path):
    runs = tmp_path / "runs"
    first = start_training(runs, "digits", *LONG)
    try:
        run_dir = stopped_at_first_checkpoint(first, runs)
        second = run_cli("train", "--resume", run_dir, timeout=300)  # while the first holds the run (stopped)
        assert second.returncode == 2
        assert second.stderr.splitlines() == [
            f"vislab: error: {run_dir} is being trained by pid {first.pid} on {os.uname().nodename}; "
            "wait for it to end (or stop it) before resuming it"
        ]
        assert second.stdout == ""
    finally:
        first.kill()
        first.communicate()
    resumed = run_cli("train", "--resume", run_dir, timeout=300)  # the killed process's lock went with it
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.splitlines()[0] == f"run directory: {run_dir}"
    assert [row["epoch"] for row in Run(run_dir).history] == [1, 2, 3]


def test_a_run_whose_directory_is_deleted_while_it_trains_stops_with_one_line(tmp_path: Path):
    runs = tmp_path / "runs"
    # Stopped mid-epoch, at a checkpoint every 4 steps: no TensorBoard event is then waiting in its writer's thread
    # (which would report the missing file on its own).
    proc = start_training(runs, "digits", *LONG, "train.checkpoint_every_steps=4")
    try:
        run_dir = stopped_at_first_checkpoint(proc, runs)
        shutil.rmtree(run_dir)
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 2, err[-3000:]
    assert "Traceback" not in err and out == ""
    assert err.splitlines()[-1] == f"vislab: error: run directory {run_dir} was deleted while it trained; training stopped"
