"""What a finished run keeps: best.pt holds what evaluation and export read (no optimizer state, so it is
smaller), last.pt what a resume continues from; every verb that reads them works from them, as users run it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from vislab.engine.checkpoint import load_checkpoint

TINY = ("train.epochs=2", "train.limit_batches=4")


@pytest.mark.slow
def test_best_pt_holds_weights_only_and_every_verb_still_reads_it(cli, tmp_path: Path):
    done = cli("train", "--runs-dir", tmp_path, "digits", *TINY)
    assert done.returncode == 0, done.stderr
    run = next((tmp_path / "digits").iterdir())
    best_path, last_path = run / "checkpoints" / "best.pt", run / "checkpoints" / "last.pt"
    best, last = load_checkpoint(best_path), load_checkpoint(last_path)
    resume_only = {"optimizer", "scheduler", "scaler", "rng", "average"}
    assert not resume_only & best.keys() and resume_only <= last.keys()
    assert best_path.stat().st_size < 0.5 * last_path.stat().st_size  # Adam keeps two tensors per weight
    with open(run / "metrics.csv", newline="") as f:
        best_row = list(csv.DictReader(f))[best["state"]["epoch"] - 1]

    evaluated = cli("eval", run)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads((run / "eval_val_best.json").read_text())["val_acc"] == float(best_row["val_acc"])
    exported = cli("export", run, "--format", "torchscript")
    assert exported.returncode == 0, exported.stderr
    assert (run / "export" / "best.torchscript").is_file()
    resumed = cli("train", "--resume", run, "train.epochs=3")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "summary.json").read_text())["epochs_completed"] == 3
    assert load_checkpoint(last_path)["state"]["epoch"] == 3
