"""Model EMA, weight averaging over the last epochs, and gradient accumulation: the numbers each promises,
and what a user sees of them (metrics.csv columns, checkpoints, `vislab eval --weights ema`)."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from torch import nn

import vislab
from vislab import config
from vislab.config import EmaConfig
from vislab.data.bundle import DataBundle, DataInfo
from vislab.data.datasets import MemoryDataset
from vislab.engine import fit, load_checkpoint, make_fabric, seed_all
from vislab.engine.averaging import WeightAverage, reestimate_batchnorm
from vislab.engine.ema import ModelEMA
from vislab.runs import Run
from vislab.tasks.classification import ClassificationTask


def test_the_ema_follows_the_weights_by_its_decay_every_nth_step_and_copies_integer_buffers():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = ModelEMA(model, EmaConfig(decay=0.5, every_steps=2))
    start = ema.module[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(4.0)
        model[1].num_batches_tracked.fill_(7)
    ema.update(model)  # step 1 of 2: no update
    assert torch.equal(ema.module[0].weight, start) and ema.updates == 0
    ema.update(model)
    torch.testing.assert_close(ema.module[0].weight, start + 2.0)  # halfway with decay 0.5
    assert int(ema.module[1].num_batches_tracked) == 7 and ema.updates == 1
    assert not any(p.requires_grad for p in ema.module.parameters()) and not ema.module.training


def test_the_warmup_ramps_the_decay_as_ultralytics_does():
    ema = ModelEMA(nn.Linear(1, 1), EmaConfig(decay=0.999, warmup_steps=100))
    assert ema.decay_at(1) == pytest.approx(0.999 * (1 - math.exp(-0.01)))
    assert ema.decay_at(2000) == pytest.approx(0.999, abs=1e-8)


def test_the_average_is_the_mean_of_the_last_k_epochs_and_batchnorm_is_reestimated():
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1))
    average = WeightAverage(k=2, epochs=4, device=torch.device("cpu"))
    for epoch, w in enumerate([10.0, 20.0, 1.0, 3.0], start=1):
        with torch.no_grad():
            model[0].weight.fill_(w)
        average.add(model, epoch)
    averaged = average.averaged(model)
    assert average.epochs == [3, 4] and float(averaged[0].weight.detach()) == pytest.approx(2.0)
    batches = [{"x": torch.tensor([[1.0], [3.0]])}, {"x": torch.tensor([[5.0], [7.0]])}]
    used = reestimate_batchnorm(averaged, batches, lambda m, b: m(b["x"]))
    # w = 2: batch means 4 and 12, unbiased variances 8 and 8, averaged plainly
    assert used == 2 and float(averaged[1].running_mean) == pytest.approx(8.0) and float(averaged[1].running_var) == pytest.approx(8.0)
    assert averaged[1].momentum == 0.1 and reestimate_batchnorm(nn.Linear(1, 1), batches, None) == 0


INFO = DataInfo("classification", 3, list("abc"), 1, [0.5], [0.25], image_size=(4, 4))


def accumulated_weights(tmp_path, batch_size: int, accumulate: int) -> dict[str, torch.Tensor]:
    """The weights after one epoch over 48 images, with no BatchNorm (accumulation cannot match its batch statistics)."""
    g = torch.Generator().manual_seed(1)
    images, targets = torch.randint(0, 256, (60, 1, 4, 4), dtype=torch.uint8, generator=g), torch.randint(0, 3, (60,), generator=g)
    bundle = DataBundle(MemoryDataset(images[:48], targets[:48]), MemoryDataset(images[48:], targets[48:]), None, INFO)
    cfg = config.resolve("digits", {"train.epochs": 1, "train.batch_size": batch_size, "train.accumulate": accumulate,
                                    "train.progress": False, "sched.name": "none", "optim.name": "sgd", "optim.lr": 0.5})
    seed_all(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    fit(cfg, bundle, model, ClassificationTask(cfg, INFO), Run.create(tmp_path, f"b{batch_size}"), make_fabric(cfg.train))
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_batches_of_b_accumulated_n_times_train_as_batches_of_b_times_n(tmp_path):
    big = accumulated_weights(tmp_path, 12, 1)
    accumulated = accumulated_weights(tmp_path, 4, 3)
    plain = accumulated_weights(tmp_path, 4, 1)
    for key in big:
        torch.testing.assert_close(accumulated[key], big[key], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(plain["3.weight"], big["3.weight"], atol=1e-3)  # four times the steps: not the same


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory: pytest.TempPathFactory) -> vislab.Run:
    return vislab.train("digits", runs_dir=tmp_path_factory.mktemp("runs"), **{
        "train.epochs": 2, "data.limit": 100, "train.progress": False, "train.ema.decay": 0.8, "train.average_last": 2})


def test_an_ema_run_reports_both_weights_and_evaluates_either(ema_run, main):
    with open(ema_run.dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"val_acc", "val_ema_acc", "val_ema_loss"} <= set(rows[0])
    s = ema_run.summary
    assert s["best_metric"] == "val_ema_acc" and s["best_weights"] == "ema"  # timm's choice: best by the EMA
    best = rows[s["best_epoch"] - 1]
    assert load_checkpoint(ema_run.checkpoint_path("best"))["ema"]["updates"] > 0
    code, _, err = main("eval", ema_run.dir, "--weights", "ema")
    assert code == 0, err
    measured = json.loads((ema_run.dir / "eval_val_best_ema.json").read_text())
    assert measured["val_acc"] == pytest.approx(float(best["val_ema_acc"]), abs=1e-6)
    code, _, err = main("eval", ema_run.dir, "--checkpoint", "averaged")
    assert code == 0, err
    averaged = json.loads((ema_run.dir / "eval_val_averaged.json").read_text())
    assert averaged["val_acc"] == pytest.approx(s["metrics"]["averaged_val_acc"], abs=1e-6)
    assert "averaged_test_acc" in s["metrics"]


@pytest.mark.parametrize("args, message", [
    (["train.ema.warmup_steps=10"], "config key 'train.ema.warmup_steps' does nothing with train.ema.decay=null"),
    (["train.monitor=val_ema_acc"], "train.monitor=val_ema_acc names the EMA weights' metric; set train.ema.decay"),
    (["train.accumulate=3", "train.checkpoint_every_steps=4"], "must be a multiple of train.accumulate=3"),
])
def test_settings_that_cannot_work_exit_2_before_any_run(args, message, main, tmp_path):
    code, _, err = main("train", "digits", *args, "train.epochs=1", "train.progress=false")
    assert code == 2 and message in err and "Traceback" not in err
    assert not list(tmp_path.glob("runs/*/*/config.yaml"))


def test_ema_weights_of_a_run_without_them_are_bad_input(main, tmp_path):
    plain = vislab.train("digits", runs_dir=tmp_path / "plain", **{"train.epochs": 1, "data.limit": 100, "train.progress": False})
    code, _, err = main("eval", plain.dir, "--weights", "ema")
    assert code == 2 and "holds no EMA weights" in err
    code, _, err = main("eval", plain.dir, "--checkpoint", "averaged")
    assert code == 2 and "train.average_last=K" in err
