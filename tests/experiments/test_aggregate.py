"""rliable's aggregates over datasets: IQM, mean, median and the probability of improvement with stratified
bootstrap intervals, against values worked out by hand, and `vislab compare --aggregate-over`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from compare_runs import write_run
from vislab.experiments.stats import aggregate

X = [np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.5, 0.6, 0.7, 0.8])]  # two strata, four runs each
Y = [np.array([0.1, 0.1, 0.1, 0.1]), np.array([0.9, 0.9, 0.5, 0.5])]


def test_the_aggregates_by_hand():
    # all eight values, the lowest and highest two trimmed: mean of 0.3..0.6
    assert aggregate.iqm(X) == pytest.approx(0.45)
    assert aggregate.mean(X) == pytest.approx((0.25 + 0.65) / 2)
    assert aggregate.median([*X, np.array([0.9])]) == pytest.approx(0.65)
    # stratum 1: 12 wins of 16 + 4 ties (0.1 vs 0.1) as half -> 14/16; stratum 2: 8 wins, 4 ties (0.5) -> 10/16... of 16
    wins2 = sum(a > b for a in X[1] for b in Y[1]) + 0.5 * sum(a == b for a in X[1] for b in Y[1])
    assert aggregate.probability_of_improvement(X, Y) == pytest.approx((14 / 16 + wins2 / 16) / 2)
    assert aggregate.probability_of_improvement(Y, Y) == pytest.approx(0.5)


def test_the_stratified_bootstrap_keeps_each_stratum_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    drawn = aggregate.resample(X, rng, 100)
    assert [d.shape for d in drawn] == [(100, 4), (100, 4)]
    assert set(drawn[0].ravel()) == set(X[0]) and set(drawn[1].ravel()) == set(X[1])  # never across strata
    est = aggregate.interval(aggregate.iqm, X)
    assert est.low < est.value < est.high
    wide = [np.concatenate([x] * 25) for x in X]  # 25 times the runs: a narrower interval, about 1/5 as wide
    narrow = aggregate.interval(aggregate.iqm, wide)
    assert (narrow.high - narrow.low) < (est.high - est.low) / 3
    assert stats.trim_mean(np.concatenate(wide), 0.25) == pytest.approx(narrow.value)


def test_compare_aggregates_over_datasets_with_the_probability_of_improvement(main, tmp_path):
    root = tmp_path / "runs"
    for data, shift in (("digits", 0.0), ("mnist", 0.05)):
        for seed in range(3):
            write_run(root, "adam", seed, 0.80 + shift + 0.01 * seed, **{"data.name": data})
            write_run(root, "sgd", seed, 0.70 + shift + 0.015 * seed, **{"data.name": data})  # differences that vary
    code, out, err = main("compare", root, "--aggregate-over", "data.name", "--baseline", "optim.name=adam",
                          "--out", tmp_path / "r")
    assert code == 0, err
    report = (tmp_path / "r" / "report.md").read_text()
    assert "## Aggregates over data.name" in report and "probability of improvement" in report
    sgd = next(line for line in report.splitlines() if line.startswith("| optim.name=sgd | 2 | 6 |"))
    assert "| 0.0000 [0.0000, 0.0000] |" in sgd  # every sgd run below every adam run on both datasets
    # each dataset is compared on its own: sgd on digits against adam on digits
    rows = json.loads(main("compare", root, "--aggregate-over", "data.name", "--format", "json", "--out", tmp_path / "r")[1])["rows"]
    digits_sgd = next(r for r in rows if r["metric"] == "val_acc" and r["group"] == "data.name=digits optim.name=sgd")
    assert digits_sgd["test"] == "paired" and digits_sgd["diff"] == pytest.approx(0.715 - 0.81)
    code, _, err = main("compare", root, "--aggregate-over", "optim.lr")
    assert code == 2 and "do not differ in it" in err


@pytest.mark.slow
def test_aggregates_meet_the_baseline_only_on_its_own_data(cli, tmp_path):
    root = tmp_path / "runs"
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    for data in ("digits", "mnist"):
        for seed in range(3):
            write_run(root, "adam", seed, 0.80 + 0.01 * seed, **{"data.name": data, "data.root": a})
            write_run(root, "sgd", seed, 0.70 + 0.015 * seed, **{"data.name": data, "data.root": a})
            write_run(root, "sgd", seed, 0.95 + 0.01 * seed, **{"data.name": data, "data.root": b})  # no adam on b
    done = cli("compare", root, "--aggregate-over", "data.name", "--baseline", "optim.name=adam", "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "r" / "report.md").read_text()
    section = report.split("## Aggregates over data.name, data.root", 1)[1]  # every data key is a stratum
    sgd = next(line for line in section.splitlines() if line.startswith("| optim.name=sgd |"))
    # sgd meets adam on data.root=a only (two strata, 6 runs), where every sgd run is below every adam run;
    # its runs on b, where nothing ran adam, are not weighed against adam on a
    assert sgd.startswith("| optim.name=sgd | 2 | 6 |") and sgd.endswith("| 0.0000 [0.0000, 0.0000] |")
    rows = [line for line in section.split("Aggregates as rliable")[0].splitlines() if line.startswith("| ")]
    assert rows and not [line for line in rows if "data.root=" in line]  # no method named by its data
