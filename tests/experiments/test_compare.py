"""`vislab compare`: grouping, the tables' numbers (against scipy), baselines, formats and the report.

Most tests write run directories with known numbers through the real writers (config.yaml, metrics.csv,
summary.json); the report test reads a small sweep trained for real.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sp

from compare_runs import write_run

# val_acc at the best epoch, by group and seed
ADAM = {0: 0.90, 1: 0.92, 2: 0.94}
SGD = {0: 0.85, 1: 0.87, 2: 0.88}  # same seeds: paired
RMSPROP = {5: 0.91, 6: 0.96}  # other seeds: Welch
ADAMW = {0: 0.97}  # a single run


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "ablation"
    for name, values in [("adam", ADAM), ("sgd", SGD), ("rmsprop", RMSPROP), ("adamw", ADAMW)]:
        for seed, value in values.items():
            write_run(root, name, seed, value)
    write_run(root, "sgd", 9, 0.10, status="failed")
    return root


def rows_by_group(text: str, metric: str) -> dict[str, dict]:
    return {r["group"]: r for r in json.loads(text)["rows"] if r["metric"] == metric}


def test_tables_hold_the_t_statistics_of_each_group(main, runs, tmp_path):
    code, out, err = main("compare", runs, "--baseline", "optim.name=adam", "--format", "json", "--out", tmp_path / "r")
    assert code == 0, err
    rows = rows_by_group(out, "val_acc")
    assert list(rows)[0] == "optim.name=adam"  # the baseline leads
    assert set(rows) == {"optim.name=adam", "optim.name=sgd", "optim.name=rmsprop", "optim.name=adamw"}

    adam = rows["optim.name=adam"]
    low, high = sp.t.interval(0.95, 2, loc=0.92, scale=sp.sem(list(ADAM.values())))
    assert (adam["n"], adam["mean"], adam["std"]) == (3, pytest.approx(0.92), pytest.approx(0.02))
    assert (adam["ci_low"], adam["ci_high"]) == pytest.approx((low, high))
    assert adam["verdict"] == "baseline" and adam["best_epoch"] == 2 and adam["wall_s"] == 2

    paired = sp.ttest_rel([SGD[s] for s in (0, 1, 2)], [ADAM[s] for s in (0, 1, 2)])
    welch = sp.ttest_ind(list(RMSPROP.values()), list(ADAM.values()), equal_var=False)
    sgd, rmsprop = rows["optim.name=sgd"], rows["optim.name=rmsprop"]
    assert sgd["test"] == "paired" and sgd["p"] == pytest.approx(paired.pvalue)
    assert (sgd["diff_low"], sgd["diff_high"]) == pytest.approx(tuple(paired.confidence_interval()))
    assert rmsprop["test"] == "welch" and rmsprop["p"] == pytest.approx(welch.pvalue)
    # Holm over the two p-values: the smaller times 2, the larger at least that
    smaller, larger = sorted([paired.pvalue, welch.pvalue])
    assert sorted([sgd["p_holm"], rmsprop["p_holm"]]) == pytest.approx([2 * smaller, max(2 * smaller, larger)])
    assert sgd["verdict"] == "worse" and sgd["p_holm"] < 0.05
    assert rmsprop["verdict"] == "no detectable difference"

    adamw = rows["optim.name=adamw"]
    assert adamw["n"] == 1 and adamw["p"] is None and adamw["ci_low"] is None
    assert adamw["diff"] == pytest.approx(0.97 - 0.92) and adamw["verdict"] == "no p-value: one run"


def test_a_loss_that_goes_down_is_better(main, runs, tmp_path):
    code, out, _ = main("compare", runs, "--baseline", "optim.name=sgd", "--metric", "val_loss", "--format", "json",
                        "--out", tmp_path / "r")
    rows = rows_by_group(out, "val_loss")
    assert code == 0 and rows["optim.name=adam"]["mode"] == "min"
    assert rows["optim.name=adam"]["diff"] < 0 and rows["optim.name=adam"]["verdict"] == "better"


def test_markdown_and_csv_tables(main, runs, tmp_path):
    code, out, _ = main("compare", runs, "--baseline", "optim.name=adam", "--out", tmp_path / "r")
    assert code == 0
    assert "## val_acc (higher is better)" in out and "## test_acc (higher is better)" in out
    sgd_line = next(line for line in out.splitlines() if line.startswith("| optim.name=sgd"))
    assert "0.8667 ± 0.0153" in sgd_line and "paired t, 3 seeds" in sgd_line and "| worse |" in sgd_line
    adamw_line = next(line for line in out.splitlines() if line.startswith("| optim.name=adamw"))
    assert "+0.0500" in adamw_line and "no p-value: one run" in adamw_line

    code, out, err = main("compare", runs, "--baseline", "optim.name=adam", "--format", "csv", "--out", tmp_path / "r")
    table = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(table) == 8 and {r["metric"] for r in table} == {"val_acc", "test_acc"}
    assert "report:" in err  # the path goes to stderr so that stdout stays a clean CSV


def test_report_lists_runs_left_out(main, runs, tmp_path):
    code, _, _ = main("compare", runs, "--baseline", "optim.name=adam", "--out", tmp_path / "r")
    report = (tmp_path / "r" / "report.md").read_text()
    assert code == 0 and "Left out 1 runs that did not complete" in report and "(failed)" in report


@pytest.mark.parametrize("baseline, message", [
    ("optim.name=lion", "no group has optim.name=lion"),
    ("train.epochs=2", "matches 4 groups"),
])
def test_a_baseline_must_pick_one_group(main, runs, baseline, message):
    code, _, err = main("compare", runs, "--baseline", baseline)
    assert code == 2 and message in err and "optim.name=sgd" in err


def test_unknown_metric_and_missing_directory_are_bad_input(main, runs, tmp_path):
    code, _, err = main("compare", runs, "--metric", "val_miou")
    assert code == 2 and "no run has metric 'val_miou'" in err and "val_acc" in err
    code, _, err = main("compare", tmp_path / "nowhere")
    assert code == 2 and "does not exist" in err


@pytest.mark.slow
def test_report_of_a_real_sweep(main, small_sweep):
    sweep_dir, code, _ = small_sweep
    assert code == 0
    code, out, err = main("compare", sweep_dir, "--baseline", "optim.name=adam")
    assert code == 0, err
    report = sweep_dir / "report"
    assert {p.name for p in report.iterdir()} == {"report.md", "report.html", "curve_val_acc.png", "curve_val_loss.png", "per_class.png"}
    md = (report / "report.md").read_text()
    assert "Comparison of 4 runs in 2 groups" in md and "Groups differ in optim.name" in md
    assert "![curve_val_acc](curve_val_acc.png)" in md
    sgd = next(line for line in md.splitlines() if line.startswith("| optim.name=sgd | 2 |"))
    assert "paired t, 2 seeds" in sgd

    page = (report / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)  # 2 curves, per class
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing to fetch: it opens offline
    assert "<td>optim.name=sgd</td>" in page


def test_repeated_seeds_count_once_and_a_run_named_twice_counts_once(main, runs, tmp_path):
    repeat = write_run(runs, "adam", 0, 0.96)  # seed 0 of adam again, with another result
    code, out, err = main("compare", runs, repeat.dir, "--baseline", "optim.name=adam", "--format", "json",
                          "--out", tmp_path / "r")
    assert code == 0, err
    adam = rows_by_group(out, "val_acc")["optim.name=adam"]
    values = [(0.90 + 0.96) / 2, ADAM[1], ADAM[2]]  # the two seed-0 runs are one sample: their mean
    assert adam["n"] == 3 and adam["mean"] == pytest.approx(sum(values) / 3)
    sgd = rows_by_group(out, "val_acc")["optim.name=sgd"]
    assert sgd["test"] == "paired" and sgd["p"] == pytest.approx(sp.ttest_rel(list(SGD.values()), values).pvalue)
    assert f"Named more than once, counted once: {repeat.dir.name}." in err
    assert "2 runs of optim.name=adam repeat seed 0" in err and "not independent samples" in err
    assert "Left out 1 runs that did not complete" in err  # on the terminal, not only in the report
    report = (tmp_path / "r" / "report.md").read_text()
    assert "repeat seed 0" in report and "Named more than once" in report


def test_runs_of_two_tasks_are_refused_not_dropped(main, runs, tmp_path):
    other = write_run(tmp_path / "seg", "adam", 0, 0.5)
    other.update_summary(task="segmentation")
    code, _, err = main("compare", runs, other.dir, "--out", tmp_path / "r")
    assert code == 2 and "the runs are of 2 tasks" in err and "segmentation: 1 runs" in err
    assert "compare each task's runs separately" in err and not (tmp_path / "r").exists()


def test_best_epoch_is_an_epoch_and_the_p_column_says_holm(main, runs, tmp_path):
    code, out, _ = main("compare", runs, "--baseline", "optim.name=adam", "--out", tmp_path / "r")
    header = next(line for line in out.splitlines() if line.startswith("| group"))
    assert "| p (Holm-adjusted p) |" in header and "| best epoch |" in header
    adam = next(line for line in out.splitlines() if line.startswith("| optim.name=adam"))
    assert adam.split(" | ")[4] == "2"  # an epoch, not 2.0


def test_the_report_says_how_many_seeds_would_detect_the_difference(main, runs, tmp_path):
    from vislab.experiments.stats.sequential import seeds_needed

    code, out, err = main("compare", runs, "--baseline", "optim.name=adam", "--min-effect", "0.01", "--format", "json",
                          "--out", tmp_path / "r")
    assert code == 0, err
    sgd = rows_by_group(out, "val_acc")["optim.name=sgd"]
    d = [SGD[s] - ADAM[s] for s in (0, 1, 2)]  # paired: the spread of the per-seed differences sets the power
    sd = float(np.std(d, ddof=1))
    assert sgd["seeds_needed"] == seeds_needed(np.mean(d), sd, paired=True) == 3  # observed: large and steady
    assert sgd["seeds_min_effect"] == seeds_needed(0.01, sd, paired=True) > 3
    md = (tmp_path / "r" / "report.md").read_text()
    assert "| seeds needed | seeds needed for Δ = 0.01 |" in md
    code, _, err = main("compare", runs, "--min-effect", "-1")
    assert code == 2 and "--min-effect must be a positive difference" in err


# ----------------------------------------------------------------------------------------------
# Runs on different data, bounded intervals, tests without spread: `vislab compare` in a subprocess
# ----------------------------------------------------------------------------------------------


def test_runs_on_different_data_are_different_groups_never_compared(cli, tmp_path):
    root = tmp_path / "runs"
    two, eight = tmp_path / "two_classes", tmp_path / "eight_classes"  # two folders: the same seeds, other data
    for seed, (a, b, c) in enumerate([(0.95, 0.90, 0.40), (0.97, 0.91, 0.45), (0.96, 0.93, 0.41)]):
        write_run(root, "adam", seed, a, **{"data.root": str(two)})
        write_run(root, "sgd", seed, b, **{"data.root": str(two)})
        write_run(root, "adam", seed, c, **{"data.root": str(eight)})
    done = cli("compare", root, "--format", "json", "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    rows = rows_by_group(done.stdout, "val_acc")
    adam_two, sgd_two = rows[f"data.root={two} optim.name=adam"], rows[f"data.root={two} optim.name=sgd"]
    adam_eight = rows[f"data.root={eight} optim.name=adam"]
    assert len(rows) == 3 and "repeat seed" not in done.stderr  # no seed is a repeat of a run on other data
    assert adam_two["n"] == adam_eight["n"] == 3 and adam_eight["mean"] == pytest.approx(0.42)
    assert adam_two["verdict"] == adam_eight["verdict"] == "baseline"  # each data's own baseline
    assert sgd_two["diff"] == pytest.approx(0.9133333 - 0.96) and sgd_two["test"] == "paired"
    report = (tmp_path / "r" / "report.md").read_text()
    assert "within each value of data.root (compared apart)" in report


@pytest.mark.slow
def test_a_missing_baseline_on_some_data_leaves_its_groups_uncompared(cli, tmp_path):
    root = tmp_path / "runs"
    for seed in range(2):
        write_run(root, "adam", seed, 0.9 + 0.01 * seed, **{"data.name": "digits"})
        write_run(root, "sgd", seed, 0.8 + 0.02 * seed, **{"data.name": "digits"})
        write_run(root, "sgd", seed, 0.7 + 0.03 * seed, **{"data.name": "mnist"})
    done = cli("compare", root, "--baseline", "optim.name=adam", "--format", "json", "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    rows = rows_by_group(done.stdout, "val_acc")
    assert rows["data.name=mnist optim.name=sgd"]["diff"] is None
    assert rows["data.name=mnist optim.name=sgd"]["verdict"] == "not compared: no baseline run on this data"
    assert "Not compared, no run of the baseline method with data.name=mnist: data.name=mnist optim.name=sgd." in done.stderr
    done = cli("compare", root, "--baseline", "data.name=digits")
    assert done.returncode == 2 and "--baseline names the method; leave data.name out of it" in done.stderr


def test_intervals_of_bounded_metrics_stay_in_their_range(cli, tmp_path):
    root = tmp_path / "runs"
    for seed, (a, b) in enumerate([(0.95, 0.10), (0.99, 0.90)]):
        write_run(root, "adam", seed, a)
        write_run(root, "sgd", seed, b)
    done = cli("compare", root, "--baseline", "optim.name=adam", "--format", "json", "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    rows = rows_by_group(done.stdout, "val_acc")
    adam, sgd = rows["optim.name=adam"], rows["optim.name=sgd"]
    # Student t with one degree of freedom: [0.7159, 1.2241] for adam, a difference of [-5.30, +4.36]
    assert (adam["ci_low"], adam["ci_high"]) == (pytest.approx(0.7158759), 1.0)
    assert (sgd["ci_low"], sgd["ci_high"]) == (0.0, 1.0) and (sgd["diff_low"], sgd["diff_high"]) == (-1.0, 1.0)
    assert sgd["p"] == pytest.approx(sp.ttest_rel([0.10, 0.90], [0.95, 0.99]).pvalue)  # the test itself unchanged
    report = (tmp_path / "r" / "report.md").read_text()
    assert "| [0.7159, 1.0000] |" in report and "[-1.0000, +1.0000]" in report
    assert "clipped to [0, 1]" in report  # the METHOD paragraph says so


# Two seeds that both gain +0.1037, as float32 metrics round it: differences 6e-8 apart (scipy: p = 1.8e-07)
BASE = [0.6091409921646118, 0.6481642723083496]
GAIN = [0.7128410339355469, 0.7518642544746399]


def test_a_difference_without_spread_cannot_tell(cli, tmp_path):
    assert sp.ttest_rel(GAIN, BASE).pvalue < 1e-6  # what a t-test would claim
    root = tmp_path / "runs"
    for seed in range(2):
        write_run(root, "adam", seed, BASE[seed])
        write_run(root, "sgd", seed, GAIN[seed])
    done = cli("compare", root, "--baseline", "optim.name=adam", "--metric", "val_acc", "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    sgd = next(line for line in done.stdout.splitlines() if line.startswith("| optim.name=sgd"))
    cells = [c.strip() for c in sgd.strip("|").split("|")]
    assert cells[6] == "+0.1037" and cells[7] == "—"  # the difference, with no interval and no p-value
    assert cells[9] == "cannot tell: differences have no spread over 2 seeds" and "better" not in sgd


def test_a_misspelt_aggregate_key_is_no_config_key(main, runs):
    code, _, err = main("compare", runs, "--aggregate-over", "data.nme")
    assert code == 2 and "--aggregate-over data.nme: unknown config key 'data.nme'; did you mean 'data.name'" in err
    code, _, err = main("compare", runs, "--aggregate-over", "data.name")  # a key, which the runs share
    assert code == 2 and "--aggregate-over data.name: the runs do not differ in it; they differ in optim.name" in err


def test_which_keys_say_what_data_a_run_sees():
    from vislab.experiments.compare.comparison import data_key

    for key in ("data.root", "data.name", "data.test_domain", "data.split_seed", "data.labeled_per_class",
                "data.labeled_fraction", "data.limit", "data.val_fraction"):
        assert data_key(key), key
    for key in ("data.sampler", "data.domains_per_batch", "data.bootstrap", "data.exclude", "optim.lr", "model.name"):
        assert not data_key(key), key


def test_leaving_training_images_out_is_compared_as_a_method_with_a_warning(main, tmp_path):
    root, suspects = tmp_path / "runs", tmp_path / "suspects.txt"
    for seed, (plain, cleaned) in enumerate([(0.90, 0.93), (0.91, 0.95), (0.92, 0.94)]):
        write_run(root, "adam", seed, plain)
        write_run(root, "adam", seed, cleaned, **{"data.exclude": str(suspects)})
    code, out, err = main("compare", root, "--baseline", "data.exclude=null", "--format", "json", "--out", tmp_path / "r")
    assert code == 0, err
    cleaned = rows_by_group(out, "val_acc")[f"data.exclude={suspects}"]
    assert cleaned["test"] == "paired" and cleaned["diff"] == pytest.approx(0.03) and cleaned["verdict"] == "better"
    warning = f"Warning: the groups trained on different data, data.exclude = \"{suspects}\", null; compared as a method"
    assert warning in err and warning in (tmp_path / "r" / "report.md").read_text()


def test_cross_validation_folds_are_a_groups_repeats_and_other_folds_are_warned_of(main, tmp_path):
    root = tmp_path / "runs"
    for fold, value in enumerate([0.90, 0.94, 0.92]):  # one seed, three folds: three samples, not one
        write_run(root, "adam", 0, value, **{"data.folds": 3, "data.fold": fold})
    for fold, value in enumerate([0.80, 0.85]):
        write_run(root, "sgd", 0, value, **{"data.folds": 3, "data.fold": fold})
    code, out, err = main("compare", root, "--format", "json", "--out", tmp_path / "r")
    assert code == 0, err
    rows = rows_by_group(out, "val_acc")
    assert rows["optim.name=adam"]["n"] == 3 and rows["optim.name=adam"]["mean"] == pytest.approx(0.92)
    assert rows["optim.name=sgd"]["test"] == "welch" and "repeat seed" not in err  # other folds: not paired
    assert "Warning: the groups trained on different cross-validation folds (optim.name=adam: 0, 1, 2; optim.name=sgd: 0, 1)" in err


def test_groups_on_other_split_seeds_are_warned_of_as_trained_on_different_data():
    from vislab.experiments.compare.comparison import Group, training_data_notes

    groups = [Group("data.split_seed=0", {"data.split_seed": 0}, []), Group("data.split_seed=1", {"data.split_seed": 1}, [])]
    assert training_data_notes(groups, ["data.split_seed"]) == [
        "Warning: the groups trained on different data, data.split_seed = 0, 1; each value is compared on its own, "
        "never with another."]
    assert training_data_notes(groups, ["optim.name"]) == []


def test_the_python_api_compares_and_writes_the_report(runs, tmp_path):
    """vislab.compare computes the comparison and then writes its report (compare/ itself writes nothing);
    a bad band is refused before anything is written."""
    import vislab
    from vislab.errors import VislabError

    with pytest.raises(VislabError, match="--band must be std or minmax"):
        vislab.compare(runs, baseline=["optim.name=adam"], out=tmp_path / "bad", band="wide")
    assert not (tmp_path / "bad").exists()
    result = vislab.compare(runs, baseline=["optim.name=adam"], out=tmp_path / "r")
    assert result.out == tmp_path / "r" and (tmp_path / "r" / "report.md") in result.files
    assert all(Path(f).is_file() for f in result.files) and (tmp_path / "r" / "report.html").is_file()
    assert "optim.name=sgd" in (tmp_path / "r" / "report.md").read_text()
