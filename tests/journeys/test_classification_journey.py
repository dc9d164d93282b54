"""Classification as a user takes it, every step a `vislab` subprocess with the default display: train the
embedded default (with an EMA) -> runs -> eval (raw and EMA weights) -> predict a folder of PNG and JPEG files ->
export to ONNX -> eval and predict with the exported file -> profile -> calibrate -> a second run with another
learning rate -> compare -> board. The steps share one training; they run in the order written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from journeys.user import (SHORT, User, board, check_class_predictions, check_compare, check_exported, check_profile,
                           check_trained, digit_photos, listed, predicted_rows, printed, summary)

CLASSES = {str(i) for i in range(10)}


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> User:
    return User(tmp_path_factory.mktemp("classification"))


@pytest.fixture(scope="module")
def trained(user: User):
    return user.train("digits", *SHORT, "train.ema.decay=0.9")


@pytest.fixture(scope="module")
def run(trained) -> Path:
    return trained[1]


@pytest.fixture(scope="module")
def photos(user: User) -> list[Path]:
    return digit_photos(user.home / "photos")


@pytest.fixture(scope="module")
def eager_predictions(user: User, run: Path, photos: list[Path]) -> Path:
    out = user.home / "eager.csv"
    user.ok("predict", run, photos[0].parent, "--out", out)
    return out


@pytest.fixture(scope="module")
def exported(user: User, run: Path) -> str:
    return user.ok("export", run).stdout


def test_train_shows_progress_and_writes_a_complete_run(trained) -> None:
    proc, run = trained
    done = check_trained(proc, run)
    assert done["best_weights"] == "ema" and done["best_metric"] == "val_ema_acc"
    assert {"confusion_matrix.png", "per_class.csv", "reliability.png", "misclassified.png"} <= {
        p.name for p in (run / "artifacts").iterdir()}


def test_runs_lists_it(user: User, run: Path) -> None:
    listed(user, run)


def test_eval_reproduces_the_run_metrics_with_raw_and_ema_weights(user: User, run: Path) -> None:
    done = summary(run)
    raw = printed(user.ok("eval", run).stdout)
    assert raw["val_acc"] == pytest.approx(done["metrics"]["val_acc"], abs=1e-4)
    ema = printed(user.ok("eval", run, "--split", "test", "--weights", "ema").stdout)
    assert ema["test_acc"] == pytest.approx(done["metrics"]["test_acc"], abs=1e-4)  # best.pt's EMA gave the run's test
    saved = json.loads((run / "eval_test_best_ema.json").read_text())
    assert saved["test_acc"] == pytest.approx(ema["test_acc"], abs=1e-4)


def test_predict_a_folder_of_image_files(run: Path, photos: list[Path], eager_predictions: Path) -> None:
    check_class_predictions(eager_predictions, photos, CLASSES)


def test_export_writes_a_checked_onnx_file(run: Path, exported: str) -> None:
    check = check_exported(run)
    assert f"wrote {run / 'export' / 'best.onnx'}" in exported
    assert f"agreement {check['agreement']:.4f}" in exported


def test_the_exported_file_evaluates_and_predicts_as_the_checkpoint(user: User, run: Path, exported: str,
                                                                     photos: list[Path], eager_predictions: Path) -> None:
    onnx = run / "export" / "best.onnx"
    metrics = printed(user.ok("eval", run, "--exported", onnx).stdout)
    assert metrics["val_acc"] == pytest.approx(summary(run)["metrics"]["val_acc"], abs=1e-3)
    out = user.home / "exported.csv"
    user.ok("predict", run, photos[0].parent, "--exported", onnx, "--out", out)
    eager, onnx_rows = predicted_rows(eager_predictions), check_class_predictions(out, photos, CLASSES)
    for name, row in eager.items():
        assert onnx_rows[name][0::2] == row[0::2]  # the same classes in the same order
        assert [float(p) for p in onnx_rows[name][1::2]] == pytest.approx([float(p) for p in row[1::2]], abs=1e-4)


def test_profile_reports_size_flops_and_latency(user: User, run: Path, exported: str) -> None:
    report = check_profile(user, run)
    assert report["model"] == "cnn-mnist" and report["input"] == [1, 8, 8]
    assert report["parameters"] == report["trainable"] > 10_000 and report["flops_per_image"] > 0
    for engine in ("eager", "onnxruntime"):
        assert set(report[engine]) == {"batch_1", "batch_4"}
        assert all(timing["latency_ms"] > 0 for timing in report[engine].values())


def test_calibrate_fits_a_temperature_that_predict_then_uses(user: User, run: Path, photos: list[Path],
                                                              eager_predictions: Path) -> None:
    out = user.ok("calibrate", run).stdout
    fitted = json.loads((run / "calibration.json").read_text())
    assert fitted["split"] == "val" and fitted["temperature"] > 0
    assert fitted["nll_after"] <= fitted["nll_before"]  # the temperature minimizes the validation NLL
    assert f"NLL {fitted['nll_before']:.4f} -> {fitted['nll_after']:.4f}" in out
    after = user.home / "calibrated.csv"
    user.ok("predict", run, photos[0].parent, "--out", after)
    before, calibrated = predicted_rows(eager_predictions), check_class_predictions(after, photos, CLASSES)
    for name, row in before.items():
        assert calibrated[name][0] == row[0]  # dividing logits by a temperature keeps the top class
        assert float(calibrated[name][1]) != pytest.approx(float(row[1]), abs=1e-4)


@pytest.fixture(scope="module")
def second(user: User, run: Path) -> Path:
    return user.train("digits", *SHORT, "train.ema.decay=0.9", "optim.lr=0.01")[1]


def test_compare_two_runs_that_differ_in_one_setting(user: User, run: Path, second: Path) -> None:
    out = check_compare(user, run, second, groups=["optim.lr=0.003", "optim.lr=0.01"])
    for run_dir in (run, second):
        assert f"| {summary(run_dir)['best_value']:.4f} |" in out


def test_board_serves_the_runs(user: User, run: Path, second: Path) -> None:
    page, listing, experiment = board(user, "/", "/api/experiments", "/api/experiment?id=digits")
    assert "<title>vislab board</title>" in page
    assert listing == [{"id": "digits", "runs": 2, "running": 0}]
    assert experiment["keys"] == ["optim.lr"] and experiment["metric"] == "val_ema_acc"
    finals = {g["label"]: g["mean"][-1] for g in experiment["groups"]}
    assert finals == pytest.approx({"optim.lr=0.003": summary(run)["best_value"],
                                    "optim.lr=0.01": summary(second)["best_value"]})
