"""A loss or weights that stop being finite: the run stops with a clear message and keeps its last good
checkpoint (train.nan_policy=stop), or skips and counts the batch (skip_batch)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import vislab
from vislab.engine.checkpoint import load_checkpoint

# SGD at these rates diverges within a few steps of the first epoch; a checkpoint after every step.
DIVERGING = ["optim.name=sgd", "train.epochs=2", "train.progress=false", "train.checkpoint_every_steps=1",
             "data.limit=200", "train.batch_size=20"]


def finite(weights: dict) -> bool:
    return all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())


@pytest.mark.parametrize("lr, what", [
    ("1e3", r"the loss became nan at epoch 1, step (\d+)"),
    ("1e12", r"the weights became NaN or infinite after (\d+) steps"),
])
def test_divergence_stops_and_keeps_the_last_good_checkpoint(main, tmp_path: Path, lr: str, what: str):
    code, out, err = main("train", "digits", f"optim.lr={lr}", *DIVERGING)
    (run_dir,) = (tmp_path / "runs" / "digits").iterdir()
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.strip().splitlines()[:-1] == [f"vislab: run directory {run_dir}"]  # made, then a one-line error
    last = run_dir / "checkpoints" / "last.pt"
    match = re.search(f"{what}; lower optim.lr or set train.grad_clip \\(the last good checkpoint is {re.escape(str(last))}\\)", err)
    assert match, err
    bad_step = int(match.group(1))
    kept = load_checkpoint(last)
    assert kept["state"]["global_step"] == bad_step - 1 >= 1 and finite(kept["model"])
    summary = vislab.load_run(run_dir).summary
    assert summary["status"] == "failed"
    assert summary["error"] == "TrainingDiverged: " + err.strip().splitlines()[-1].removeprefix("vislab: error: ")


def test_a_divergence_before_any_checkpoint_leaves_no_run(main, tmp_path: Path):
    code, out, err = main("train", "digits", "optim.lr=1e3", *(a for a in DIVERGING if "checkpoint" not in a))
    assert code == 2 and "the loss became nan" in err and "(no checkpoint was written)" in err
    assert list((tmp_path / "runs").glob("*/*")) == []


def test_skip_batch_skips_exactly_the_bad_batches_and_counts_them(tmp_path: Path):
    from vislab.config import yaml_load
    from vislab.data.loading.sampling import EpochBatchSampler

    # An infinite weight on class 0 makes the loss of every batch holding a 0 non-finite, and only those.
    run = vislab.train("digits", runs_dir=tmp_path, **{
        "train.epochs": 1, "train.progress": False, "data.limit": 160, "train.batch_size": 8,
        "loss.class_weights": yaml_load("[.inf, 1, 1, 1, 1, 1, 1, 1, 1, 1]"), "train.nan_policy": "skip_batch",
    })
    targets = vislab.data.build(run.config.data, run.config.aug).train.targets
    sampler = EpochBatchSampler(len(targets), 8, shuffle=True, seed=0, drop_last=True)
    with_a_zero = sum(any(targets[i] == 0 for i, _ in batch) for batch in sampler)
    s = run.summary
    assert s["status"] == "completed"
    assert s["skipped_batches"] == with_a_zero > 0
    assert torch.isfinite(torch.tensor(s["metrics"]["train_loss"]))  # the skipped batches are left out of it
    assert finite(load_checkpoint(run.checkpoint_path("last"))["model"])
