"""Resuming with changed settings: a longer run re-plans its schedule from the current step (a finished
cosine run extended trains on, not at learning rate 0), and the change is recorded."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

import vislab
from vislab.engine import load_checkpoint

TINY = {"train.epochs": 1, "train.progress": False, "data.limit": 64, "train.batch_size": 16}


def test_extending_a_finished_cosine_run_trains_on_at_the_replanned_rate(main, tmp_path: Path):
    run = vislab.train("digits", runs_dir=tmp_path / "runs", name="a", **TINY)
    first = load_checkpoint(run.checkpoint_path("last"))
    assert run.summary["status"] == "completed"

    code, out, err = main("train", "--resume", run.dir, "train.epochs=3", "train.patience=5")
    assert code == 0, err
    history = run.history
    base = yaml.safe_load(run.config_path.read_text())["optim"]["lr"]
    cosine = [base * 0.5 * (1 + math.cos(math.pi * epoch / 3)) for epoch in range(3)]  # at each epoch's start
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert [row["lr"] for row in history[1:]] == pytest.approx(cosine[1:], rel=1e-9)

    last = load_checkpoint(run.checkpoint_path("last"))
    conv = "features.0.weight"
    assert not last["model"][conv].equal(first["model"][conv])  # the weights trained, not only BatchNorm's statistics
    summary = run.summary
    assert summary["status"] == "completed" and summary["epochs_completed"] == 3
    assert summary["resume_notes"] == ["extended from 1 to 3 epochs at epoch 1", "train.patience None -> 5 at epoch 1"]
    saved = yaml.safe_load(run.config_path.read_text())["train"]
    assert (saved["epochs"], saved["patience"]) == (3, 5)
