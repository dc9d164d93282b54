"""Training end to end on real data (scikit-learn's digits): what a run leaves on disk, and the loop's promises."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

import vislab
from vislab.engine.checkpoint import load_checkpoint

TINY = {"train.epochs": 1, "train.progress": False}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> vislab.Run:
    """The embedded default, exactly as `vislab train digits` runs it."""
    return vislab.train("digits", runs_dir=tmp_path_factory.mktemp("runs"), **{"train.progress": False})


def test_digits_reaches_the_promised_accuracy(digits_run: vislab.Run):
    s = digits_run.summary
    assert s["status"] == "completed"
    assert s["best_metric"] == "val_acc"
    assert s["best_value"] >= 0.97
    assert 1 <= s["best_epoch"] <= 15
    assert s["metrics"]["test_acc"] >= 0.95  # from best.pt on the held-out test split
    assert s["wall_s"] > 0  # the time budget is measured by `make demo`, not asserted here


def test_run_directory_holds_everything_promised(digits_run: vislab.Run):
    d = digits_run.dir
    assert d.parent.name == "digits"
    for name in ("config.yaml", "metrics.csv", "summary.json", "checkpoints/last.pt", "checkpoints/best.pt",
                 "artifacts/confusion_matrix.png", "artifacts/confusion_matrix.csv", "artifacts/per_class.csv"):
        assert (d / name).is_file(), name
    assert list(d.glob("events.out.tfevents.*"))
    s = json.loads((d / "summary.json").read_text())
    for key in ("status", "best_metric", "best_value", "best_epoch", "metrics", "wall_s", "train_images_per_s",
                "seed", "device", "versions", "git_commit"):
        assert key in s, key
    assert set(s["versions"]) >= {"python", "torch", "torchvision", "vislab"}
    assert s["device"] == "cpu" and s["seed"] == 0 and s["train_images_per_s"] > 0


def test_metrics_csv_has_a_row_per_epoch_in_the_documented_columns(digits_run: vislab.Run):
    with open(digits_run.dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 15
    cols = list(rows[0])
    assert cols[:3] == ["epoch", "lr", "train_loss"]
    assert cols[-2:] == ["seconds", "images_per_s"]
    assert {"val_loss", "val_acc", "val_macro_f1", "val_top5"} <= set(cols)
    assert [int(r["epoch"]) for r in rows] == list(range(1, 16))
    lrs = [float(r["lr"]) for r in rows]
    assert lrs[0] == pytest.approx(0.003) and lrs == sorted(lrs, reverse=True)  # cosine decays
    best = digits_run.summary["best_epoch"]
    assert float(rows[best - 1]["val_acc"]) == digits_run.summary["best_value"]
    assert digits_run.history[-1]["val_acc"] == float(rows[-1]["val_acc"])


def test_tensorboard_events_hold_the_same_numbers(digits_run: vislab.Run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(digits_run.dir))
    events.Reload()
    acc = [e.value for e in events.Scalars("acc/val")]
    assert acc == pytest.approx([r["val_acc"] for r in digits_run.history])


def test_artifacts_describe_the_validation_errors(digits_run: vislab.Run):
    art = digits_run.artifacts
    with open(art / "confusion_matrix.csv", newline="") as f:
        matrix = [[int(x) for x in row[1:]] for row in list(csv.reader(f))[1:]]
    total = sum(map(sum, matrix))
    correct = sum(matrix[i][i] for i in range(10))
    assert total == digits_run.summary["val_size"]
    assert correct / total == pytest.approx(digits_run.summary["best_value"])
    with open(art / "per_class.csv", newline="") as f:
        per_class = list(csv.DictReader(f))
    assert [r["class"] for r in per_class] == [str(i) for i in range(10)]
    wrong = total - correct
    assert digits_run.summary["val_misclassified"] == wrong
    assert (art / "misclassified.png").is_file() == (wrong > 0)


def test_checkpoints_load_safely_and_carry_the_state(digits_run: vislab.Run):
    last = load_checkpoint(digits_run.checkpoint_path("last"))
    best = load_checkpoint(digits_run.checkpoint_path("best"))
    assert last["state"]["epoch"] == 15 and last["state"]["step"] == 0
    assert best["state"]["epoch"] == digits_run.summary["best_epoch"]
    assert set(last["rng"]) >= {"python", "numpy", "torch"}
    assert {"model", "optimizer", "scheduler", "config"} <= set(last)
    assert {"model", "config", "state"} <= set(best) and not {"optimizer", "scheduler", "rng"} & set(best)


def test_eval_reproduces_the_summary(digits_run: vislab.Run, main):
    code, out, err = main("eval", digits_run.dir, "--split", "test")
    assert code == 0, err
    printed = dict(line.split() for line in out.strip().splitlines())
    assert float(printed["test_acc"]) == pytest.approx(digits_run.summary["metrics"]["test_acc"], abs=5e-5)
    saved = json.loads((digits_run.dir / "eval_test_best.json").read_text())
    assert saved["test_acc"] == digits_run.summary["metrics"]["test_acc"]


@pytest.mark.slow
def test_config_yaml_repeats_the_run(tmp_path: Path):
    # deterministic: also a fixed thread count, whatever else the machine is doing (engine.hardware.cpu_threads)
    first = vislab.train("digits", runs_dir=tmp_path, **{**TINY, "train.epochs": 2, "train.deterministic": True})
    again = vislab.train(first.config_path, runs_dir=tmp_path, name="again")
    assert again.dir.parent == first.dir.parent  # same recipe folder
    assert again.config == first.config
    assert [r["val_loss"] for r in again.history] == [r["val_loss"] for r in first.history]
    a = load_checkpoint(first.checkpoint_path("last"))["model"]
    b = load_checkpoint(again.checkpoint_path("last"))["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_continues_where_the_run_stopped(tmp_path: Path):
    run = vislab.train("digits", runs_dir=tmp_path, **TINY)
    resumed = vislab.train(resume=run.dir, **{"train.epochs": 3})
    assert resumed.dir == run.dir
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert resumed.summary["status"] == "completed" and resumed.summary["epochs_completed"] == 3
    assert resumed.summary["resumed_from_epoch"] == 2


def test_resuming_a_finished_run_asks_for_more_epochs(tmp_path: Path, main):
    run = vislab.train("digits", runs_dir=tmp_path, **TINY)
    code, out, err = main("train", "--resume", run.dir)
    assert code == 2
    assert "already finished 1 of train.epochs=1" in err and "Traceback" not in err


def test_early_stopping_stops_after_patience(tmp_path: Path):
    # With a zero learning rate only BatchNorm statistics move, so validation accuracy soon stops improving.
    run = vislab.train("digits", runs_dir=tmp_path, **{**TINY, "train.epochs": 8, "train.patience": 1, "optim.lr": 0.0})
    accs = [r["val_acc"] for r in run.history]
    best, bad, expected = float("-inf"), 0, len(accs)
    for epoch, acc in enumerate(accs, start=1):
        best, bad = (acc, 0) if acc > best else (best, bad + 1)
        if bad >= 1:
            expected = epoch
            break
    assert len(accs) == expected < 8
    assert run.summary["status"] == "completed" and run.summary["best_value"] == max(accs)


def test_monitoring_a_loss_picks_the_lowest(tmp_path: Path):
    run = vislab.train("digits", runs_dir=tmp_path, **{**TINY, "train.epochs": 3, "train.monitor": "val_loss"})
    losses = [r["val_loss"] for r in run.history]
    assert run.summary["mode"] == "min"
    assert run.summary["best_value"] == min(losses)
    assert run.summary["best_epoch"] == losses.index(min(losses)) + 1


def test_bf16_mixed_precision_trains_on_cpu(tmp_path: Path):
    run = vislab.train("digits", runs_dir=tmp_path, **{**TINY, "train.precision": "bf16-mixed"})
    assert run.summary["status"] == "completed" and run.summary["precision"] == "bf16-mixed"
    assert run.summary["best_value"] > 0.5


def test_api_runs_what_the_cli_runs(tmp_path: Path, main):
    code, out, err = main("train", "digits", "train.epochs=1", "train.progress=false", "--runs-dir", tmp_path, "--name", "cli")
    assert code == 0, err
    run_dir = Path(out.splitlines()[0].removeprefix("run directory: "))
    assert run_dir.name.endswith("-cli") and run_dir.parent == tmp_path / "digits"
    assert out.splitlines()[1].startswith("best val_acc ")
    run = vislab.load_run(run_dir)
    assert run.config.train.epochs == 1 and len(run.history) == 1
