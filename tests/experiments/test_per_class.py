"""What a change did per class: per-class accuracy (IoU, PQ) from the runs' per-image records, the paired
bootstrap of each group's difference from the baseline over the same images, Holm-adjusted across the classes,
and the classes named as gained and lost, through `vislab compare` as users run it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from compare_runs import write_run
from vislab import records
from vislab.experiments.stats import bootstrap
from vislab.experiments.compare.per_class import class_differences

N = 400
LABELS = np.arange(N) % 4


def correct(share: float, lost_class: int | None = None, seed: int = 0) -> np.ndarray:
    """Right on ``share`` of each class's images (every 1/share-th), and on none of ``lost_class``'s."""
    right = (np.arange(N) // 4) % 10 < share * 10
    right = np.roll(right, seed)
    if lost_class is not None:
        right[LABELS == lost_class] = False
    return right


def rows(right: np.ndarray) -> records.Records:
    return {"index": np.arange(N), "label": LABELS.astype(np.int32), "correct": right}


def test_accuracy_per_class_is_each_class_share_right_and_iou_per_class_averages_to_miou():
    r = rows(correct(0.8, lost_class=2))
    per_class = records.metric_function(r, "acc", per_class=True)(r, np.ones((1, N)))[0]
    assert per_class == pytest.approx([0.8, 0.8, 0.0, 0.8])
    seg = {"index": np.arange(2), "intersection": np.array([[4, 0], [6, 3]]), "union": np.array([[6, 0], [6, 6]])}
    ious = records.metric_function(seg, "miou", per_class=True)(seg, np.ones((1, 2)))[0]
    assert ious == pytest.approx([10 / 12, 0.5])
    assert records.metric_function(seg, "miou")(seg, np.ones((1, 2)))[0] == pytest.approx(np.mean(ious))
    assert records.metric_function({"index": r["index"], "correct": r["correct"]}, "acc", per_class=True) is None  # older runs


def test_the_bootstrap_p_value_counts_the_resamples_on_the_far_side_of_zero():
    samples = np.array([[0.1, -0.2, 0.0], [0.2, 0.1, np.nan], [0.3, 0.3, np.nan], [0.4, -0.1, np.nan]])
    p = bootstrap.bootstrap_p(samples)
    assert p[0] == pytest.approx(2 * 1 / 5)  # no resample at or below 0: (0 + 1) / (4 + 1), twice
    assert p[1] == pytest.approx(1.0)  # 2 of 4 on each side: capped at 1
    assert p[2] == 1.0  # a single resample at 0 is on both sides


def test_only_the_class_that_lost_is_named_and_its_holm_level_interval_leaves_zero_out():
    base = [rows(correct(0.8, seed=s)) for s in range(2)]
    group = [rows(correct(0.8, lost_class=2, seed=s + 1)) for s in range(2)]
    fn = records.metric_function(base[0], "acc", per_class=True)
    out = class_differences(group, base, fn, "max")
    assert out["verdict"] == ["", "", "lost", ""]
    assert out["diff"][2] == pytest.approx(-0.8) and out["high"][2] < 0
    assert out["confidence"][2] == pytest.approx(1 - 0.05 / 4)  # the smallest p-value: Holm's first step
    assert all(math.isclose(d, 0, abs_tol=0.05) for k, d in enumerate(out["diff"]) if k != 2)
    assert class_differences(group, base, fn, "min")["verdict"][2] == "gained"  # lower is better: a fall gains


def test_compare_reports_per_class_differences_in_json_markdown_and_a_plot(main, tmp_path):
    root = tmp_path / "runs"
    for seed in range(2):
        records.write(write_run(root, "adam", seed, 0.9).dir, "test", [rows(correct(0.8, seed=seed))])
        records.write(write_run(root, "sgd", seed, 0.8).dir, "test", [rows(correct(0.8, lost_class=1, seed=seed + 1))])
    code, out, err = main("compare", root, "--out", tmp_path / "report", "--format", "json")
    assert code == 0, err
    table = json.loads(out)["per_class"]
    assert table["metric"] == "test_acc" and table["classes"] == ["0", "1", "2", "3"]
    sgd = next(r for r in table["rows"] if r["group"] == "optim.name=sgd")
    assert sgd["baseline"] == "optim.name=adam" and sgd["verdict"] == ["", "lost", "", ""]
    report = (tmp_path / "report" / "report.md").read_text()
    assert "test_acc per class, optim.name=sgd against optim.name=adam: lost 1 -0.8000 [" in report
    assert "![per_class](per_class.png)" in report and (tmp_path / "report" / "per_class.png").stat().st_size > 5000


def test_a_sweep_where_one_group_never_learns_a_class_names_it_as_lost(cli, tmp_path):
    runs = tmp_path / "runs"
    hidden = "[1,1,1,0,1,1,1,1,1,1]"  # class 3 weighs nothing in the loss: the model never learns to say 3
    done = cli("sweep", "digits", f"loss.class_weights=null,{hidden}", "--seeds", "2", "train.epochs=2",
               "--runs-dir", runs, "--name", "hide")
    assert done.returncode == 0, done.stderr
    report = tmp_path / "report"
    done = cli("compare", runs / "sweeps" / "hide", "--baseline", "loss.class_weights=null", "--out", report)
    assert done.returncode == 0, done.stderr
    line = next(l for l in done.stdout.splitlines() if l.startswith("test_acc per class, loss.class_weights=["))
    assert "against loss.class_weights=None: " in line and "lost 3 -0." in line
    assert "gained" not in line
    assert (report / "per_class.png").is_file() and 'alt="per_class"' in (report / "report.html").read_text()


def test_runs_whose_records_lack_each_images_class_are_left_out_with_a_note(main, tmp_path):
    root = tmp_path / "runs"
    for seed in range(2):
        for name in ("adam", "sgd"):
            old = {k: v for k, v in rows(correct(0.8, seed=seed)).items() if k != "label"}  # kept before the class was
            records.write(write_run(root, name, seed, 0.9).dir, "test", [old])
    code, out, err = main("compare", root, "--out", tmp_path / "report")
    assert code == 0, err
    assert "No per-class test records for test_acc in optim.name=sgd" in out and "vislab eval RUN --split test" in out
    assert "test_acc per class" not in out and not (tmp_path / "report" / "per_class.png").exists()
