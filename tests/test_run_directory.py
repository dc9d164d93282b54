"""The run directory as a user meets it through the CLI: announced once it exists (display on or off), never
announced for a run that a check then refuses, and nothing made by a sweep whose settings training would refuse."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli

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
