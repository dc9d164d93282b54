"""Two CPU processes through Lightning Fabric's DDP: metrics reduced across them, one writer of the run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli


def test_two_processes_train_and_reduce_metrics(tmp_path: Path):
    runs = tmp_path / "runs"
    proc = run_cli(
        "train", "digits", "train.devices=2", "train.accelerator=cpu", "train.strategy=ddp", "train.epochs=2",
        "train.progress=false", "--runs-dir", runs, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    made = list((runs / "digits").iterdir())
    assert len(made) == 1, made  # only rank 0 created a run directory
    run_dir = made[0]
    assert proc.stdout.count("run directory:") == 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["status"] == "completed"
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    # Validation was sharded over the two processes; if the metrics were reduced over both shards, a
    # single-process evaluation of the same checkpoint gives the same accuracy on the whole split.
    single = run_cli("eval", run_dir, "--split", "val", "--checkpoint", "best", timeout=120)
    assert single.returncode == 0, single.stderr[-2000:]
    printed = json.loads((run_dir / "eval_val_best.json").read_text())
    assert printed["val_acc"] == pytest.approx(summary["best_value"], abs=1e-6)
    assert printed["val_loss"] == pytest.approx(
        next(r for r in _rows(run_dir) if int(r["epoch"]) == summary["best_epoch"])["val_loss"], rel=1e-5
    )


def _rows(run_dir: Path) -> list[dict]:
    import csv

    with open(run_dir / "metrics.csv", newline="") as f:
        return [{**r, "val_loss": float(r["val_loss"])} for r in csv.DictReader(f)]
