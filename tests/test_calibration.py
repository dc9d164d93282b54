"""Calibration: ECE against hand values and Guo et al.'s definition, temperature scaling, the stored temperature."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from vislab.calibration import (
    Calibration, calibrate_logits, expected_calibration_error, fit_temperature, reliability_bins, run_temperature,
    save_calibration, save_reliability_diagram,
)
from vislab.errors import VislabError


def test_ece_by_hand():
    # confidences 0.9, 0.9 (bin 13 of 0..14, one right: accuracy 0.5, gap 0.4) and 0.7 (bin 10, right, gap 0.3)
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7]])
    target = torch.tensor([0, 1, 1])
    assert expected_calibration_error(probs, target) == pytest.approx((2 * 0.4 + 0.3) / 3, abs=1e-6)
    bins = reliability_bins(probs, target)
    assert bins.count.tolist() == [0] * 10 + [1, 0, 0, 2, 0]
    assert bins.accuracy[13] == 0.5 and bins.confidence[13] == pytest.approx(0.9)


def test_a_certain_answer_is_binned_alike_by_the_run_metric_and_by_calibrate():
    from vislab.tasks.classification.metrics import classification_metrics

    # 1.0, 1.0 and 0.96 share the top bin (14/15, 1]: mean confidence 0.9867, 2 of 3 right, gap 0.32;
    # 0.7 is bin 10 (right, gap 0.3). torchmetrics gave 1.0 a bin of its own: (2*0.5 + 0.04 + 0.3) / 4
    probs = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.96, 0.04], [0.3, 0.7]])
    target = torch.tensor([0, 1, 0, 1])
    bins = reliability_bins(probs, target)
    assert bins.count[14] == 3 and bins.accuracy[14] == pytest.approx(2 / 3)
    run_metric = classification_metrics(2, train=False)["ece"]
    for half in (slice(0, 2), slice(2, 4)):  # over two batches, as an evaluation feeds it
        run_metric.update(probs[half], target[half])
    assert float(run_metric.compute()) == pytest.approx(bins.ece, abs=1e-9)
    assert bins.ece == pytest.approx((3 * (0.98667 - 2 / 3) + 0.3) / 4, abs=1e-4)


@pytest.mark.slow
def test_eval_and_calibrate_report_the_same_ece(cli, tmp_path):
    import re

    run = tmp_path / "runs" / "digits"
    trained = cli("train", "digits", "train.epochs=1", "data.limit=300", "--runs-dir", tmp_path / "runs")
    assert trained.returncode == 0, trained.stderr
    run = next(run.iterdir())
    evaluated = cli("eval", run)
    assert evaluated.returncode == 0, evaluated.stderr
    val_ece = float(re.search(r"val_ece\s+([\d.]+)", evaluated.stdout).group(1))
    calibrated = cli("calibrate", run)
    assert calibrated.returncode == 0, calibrated.stderr
    assert float(re.search(r"ECE ([\d.]+) ->", calibrated.stdout).group(1)) == pytest.approx(val_ece, abs=1e-4)


def test_calibrate_on_a_segmentation_run_says_what_it_calibrates(cli, tmp_path):
    small = ["data.num_samples=12", "data.image_size=[32,32]", "train.batch_size=4", "model.widths=[4,8,16,32]"]
    trained = cli("train", "shapes-unet", "train.epochs=1", "train.limit_batches=1", *small, "--runs-dir", tmp_path / "runs")
    assert trained.returncode == 0, trained.stderr
    run = next((tmp_path / "runs" / "shapes-unet").iterdir())
    result = cli("calibrate", run)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "is a segmentation run; calibrate fits a temperature to the class probabilities of classification" in result.stderr
    assert "ensemble" not in result.stderr and not (run / "calibration.json").exists()


def test_ece_agrees_with_guo_et_als_definition():
    """ECE = sum over 15 equal-width confidence bins ((m-1)/M, m/M] of |accuracy - mean confidence| times the
    bin's share of the answers (Guo et al. 2017, eq. 3), written here in numpy."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 7, generator=g) * 3
    target = torch.randint(0, 7, (500,), generator=g)
    probs = logits.softmax(1)
    confidence, correct = probs.max(1).values.double().numpy(), (probs.argmax(1) == target).double().numpy()
    bins = np.clip(np.ceil(confidence * 15).astype(int), 1, 15)
    expected = sum(abs(correct[bins == m].mean() - confidence[bins == m].mean()) * (bins == m).mean()
                   for m in range(1, 16) if (bins == m).any())
    assert expected_calibration_error(probs, target) == pytest.approx(expected, abs=1e-6)


def test_temperature_scaling_recovers_a_known_temperature_and_lowers_ece():
    g = torch.Generator().manual_seed(1)
    true_logits = torch.randn(2000, 5, generator=g) * 2
    target = torch.distributions.Categorical(logits=true_logits).sample()
    overconfident = true_logits * 3  # a model three times too sure: temperature 3 undoes it
    assert fit_temperature(overconfident, target) == pytest.approx(3.0, rel=0.1)
    c = calibrate_logits(overconfident, target, "val", "best")
    assert c.nll_after < c.nll_before and c.ece_after < c.ece_before / 3


def test_stored_temperature_is_read_back_and_missing_means_one(tmp_path):
    assert run_temperature(tmp_path) == 1.0
    save_calibration(tmp_path, Calibration(2.5, "val", "best", 10, 1.0, 0.5, 0.2, 0.05))
    assert run_temperature(tmp_path) == 2.5
    assert json.loads((tmp_path / "calibration.json").read_text())["split"] == "val"
    (tmp_path / "calibration.json").write_text('{"temperature": -1}')
    with pytest.raises(VislabError, match="temperature must be positive"):
        run_temperature(tmp_path)


def test_reliability_diagram_is_written(tmp_path):
    from PIL import Image

    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    path = save_reliability_diagram(tmp_path / "r.png", reliability_bins(probs, torch.tensor([0, 1, 0])), "val, best.pt")
    assert Image.open(path).size == (450, 550)
    assert not math.isnan(reliability_bins(probs, torch.tensor([0, 1, 0])).ece)
    assert np.isnan(reliability_bins(probs, torch.tensor([0, 1, 0])).accuracy[0])
