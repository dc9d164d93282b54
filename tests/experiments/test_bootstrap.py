"""Intervals over test images from per-sample records: the bootstrap against the binomial spread, the paired
bootstrap's sharper difference, segmentation and panoptic metrics recomputed from their rows, and the report."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from compare_runs import write_run
from vislab import records
from vislab.experiments.stats import bootstrap

N = 400


def correct(accuracy: float, flip: int = 0) -> np.ndarray:
    """N images, the first accuracy*N right, plus ``flip`` of the wrong ones made right."""
    right = np.arange(N) < round(accuracy * N) + flip
    return right


def write_records(run, split: str, right: np.ndarray) -> None:
    batches = [{"index": np.arange(i, min(i + 64, N))[::-1], "correct": right[i:i + 64][::-1],
                "confidence": np.full(len(right[i:i + 64]), 0.9, dtype=np.float16)} for i in range(0, N, 64)]
    records.write(run.dir, split, batches)


def test_records_are_written_in_index_order_and_read_back(tmp_path):
    run = write_run(tmp_path, "adam", 0, 0.9)
    write_records(run, "test", correct(0.9))
    got = records.read(run.dir, "test")
    assert (got["index"] == np.arange(N)).all() and got["correct"].sum() == 360
    assert records.read(run.dir, "val") is None


def test_the_bootstrap_spread_of_an_accuracy_is_the_binomial_one():
    r = {"index": np.arange(N), "correct": correct(0.9)}
    interval, image_std = bootstrap.group_interval([r], records.metric_function(r, "acc"))
    binomial = math.sqrt(0.9 * 0.1 / N)  # 0.015
    assert interval.value == pytest.approx(0.9) and image_std == pytest.approx(binomial, rel=0.1)
    assert interval.low == pytest.approx(0.9 - 1.96 * binomial, abs=0.006)
    assert interval.high == pytest.approx(0.9 + 1.96 * binomial, abs=0.006)


def test_the_paired_bootstrap_sees_a_small_difference_on_the_same_images():
    base = {"index": np.arange(N), "correct": correct(0.8)}
    better = {"index": np.arange(N), "correct": correct(0.8, flip=10)}  # right on 10 more images, wrong on none
    fn = records.metric_function(base, "acc")
    paired = bootstrap.paired_interval([better], [base], fn)
    assert paired.value == pytest.approx(10 / N) and paired.low > 0  # always at least as good: the interval excludes 0
    unpaired_std = math.hypot(*(bootstrap.group_interval([r], fn)[1] for r in (base, better)))
    assert paired.std < unpaired_std / 2


def test_miou_and_pq_are_recomputed_from_their_rows():
    seg = {"index": np.arange(2), "intersection": np.array([[8, 0], [2, 3]]), "union": np.array([[10, 0], [2, 6]])}
    w = np.ones((1, 2))
    # class 0: 10/12, class 1: 3/6 -> mean 2/3; class 1 absent from image 0 does not count there
    assert records.metric_function(seg, "miou")(seg, w)[0] == pytest.approx((10 / 12 + 0.5) / 2)
    pan = {"index": np.arange(1), "pq_tp": np.array([[2, 0]]), "pq_fp": np.array([[1, 0]]), "pq_fn": np.array([[1, 0]]),
           "pq_iou": np.array([[1.5, 0.0]])}
    assert records.metric_function(pan, "pq")(pan, np.ones((1, 1)))[0] == pytest.approx(1.5 / 3)  # class 1 unseen
    assert records.metric_function(seg, "pq") is None


def test_compare_adds_intervals_over_images_and_says_which_noise_dominates(main, tmp_path):
    root = tmp_path / "runs"
    for seed, acc in enumerate([0.80, 0.81, 0.80]):
        write_records(write_run(root, "adam", seed, acc + 0.01), "test", correct(acc))
        write_records(write_run(root, "sgd", seed, acc + 0.03), "test", correct(acc, flip=8))
    code, out, err = main("compare", root, "--baseline", "optim.name=adam", "--format", "json", "--out", tmp_path / "r")
    assert code == 0, err
    rows = {r["group"]: r for r in json.loads(out)["image_rows"] if r["metric"] == "test_acc"}
    adam, sgd = rows["optim.name=adam"], rows["optim.name=sgd"]
    assert (adam["runs"], adam["images"]) == (3, N) and adam["mean"] == pytest.approx(np.mean([0.80, 0.81, 0.80]))
    assert adam["dominant"] == "images"  # seeds spread 0.006, one run's images about 0.02
    assert sgd["diff"] == pytest.approx(8 / N) and sgd["diff_low"] > 0
    report = (tmp_path / "r" / "report.md").read_text()
    assert "test_acc over the evaluated images (bootstrap, 2000 resamples" in report
    assert "| noise dominated by |" in report and "| images |" in report
    assert "No test records" not in report and "No val records" not in report  # no val records at all: no note
