"""`vislab compare --table domains`: DomainBed's tables from leave-one-domain-out runs, under the three
model-selection rules, against numbers worked out by hand, through the CLI in a subprocess."""

from __future__ import annotations

import numpy as np
import pytest

from compare_runs import write_run
from vislab import records
from vislab.experiments.compare.domain_tables import out_part

DOMAINS = ["inverted", "original", "tinted"]
IMAGES = 500  # per test domain: 100 in the out part (the oracle's), 400 in the in part (what every rule reports)
# (val_acc on the training domains, accuracy on the test domain's in part, on its out part) by lr, domain and seed
RESULTS = {
    0.01: {"inverted": [(0.90, 0.60, 0.70), (0.92, 0.62, 0.70)], "original": [(0.91, 0.80, 0.90), (0.93, 0.84, 0.90)],
           "tinted": [(0.90, 0.70, 0.60), (0.90, 0.72, 0.60)]},
    0.001: {"inverted": [(0.80, 0.66, 0.60), (0.82, 0.68, 0.60)], "original": [(0.85, 0.86, 0.80), (0.84, 0.88, 0.80)],
            "tinted": [(0.95, 0.50, 0.50), (0.96, 0.52, 0.50)]},
}


def write_test_records(run, test_in: float, test_out: float) -> float:
    """records/test.npz with the given accuracy on the in and out parts; returns the whole domain's accuracy."""
    out = out_part(IMAGES)
    correct = np.zeros(IMAGES, dtype=bool)
    for part, acc in ((~out, test_in), (out, test_out)):
        where = np.flatnonzero(part)
        correct[where[: round(acc * len(where))]] = True
    records.write(run.dir, "test", [{"index": np.arange(IMAGES), "correct": correct}])
    return float(correct.mean())


@pytest.fixture
def lodo_runs(tmp_path):
    root = tmp_path / "lodo"
    for lr, by_domain in RESULTS.items():
        for domain, seeds in by_domain.items():
            for seed, (val, test_in, test_out) in enumerate(seeds):
                run = write_run(root, "adam", seed, val, recipe="digits-dg", **{"optim.lr": lr, "data.test_domain": domain})
                whole = write_test_records(run, test_in, test_out)
                run.update_summary(metrics={"val_acc": val, "test_acc": whole})
    return root


def row(report: str, rule: str) -> list[str]:
    section = report.split(f"model selection: {rule}", 1)[1]
    line = next(line for line in section.splitlines() if line.startswith("| all runs"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def test_three_selection_rules_pick_their_own_hyperparameters_as_domainbed_does(cli, lodo_runs, tmp_path):
    done = cli("compare", lodo_runs, "--table", "domains", "--select-over", "optim.lr", "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "r" / "report.md").read_text()
    assert "| method | inverted | original | tinted | Avg |" in report
    # Standard errors as DomainBed's format_mean: std with ddof=0 over sqrt(n); two seeds a, b: |a - b| / (2 sqrt 2)
    # training-domain validation: inverted and original pick lr 0.01, tinted 0.001 (val 0.95, 0.96); in parts
    # -> inverted 60, 62: 61.0 ± 0.7; original 80, 84: 82.0 ± 1.4; tinted 50, 52: 51.0 ± 0.7;
    # Avg per seed (60+80+50)/3 = 63.3, (62+84+52)/3 = 66.0 -> 64.7 ± 0.9
    assert row(report, "training-domain validation") == ["61.0 ± 0.7", "82.0 ± 1.4", "51.0 ± 0.7", "64.7 ± 0.9"]
    # oracle: selects on the out part (lr 0.01 on every domain), reports the in part, never the part it selected on;
    # Avg per seed (60+80+70)/3 = 70.0, (62+84+72)/3 = 72.7 -> 71.3 ± 0.9
    assert row(report, "oracle") == ["61.0 ± 0.7", "82.0 ± 1.4", "71.0 ± 0.7", "71.3 ± 0.9"]
    # leave-one-domain-out, seed 0: for inverted, lr 0.01 scores (0.80+0.70)/2 = 0.75 vs 0.001's (0.86+0.50)/2 = 0.68;
    # for tinted, 0.01 scores (0.60+0.80)/2 = 0.70 vs 0.001's (0.66+0.86)/2 = 0.76
    assert row(report, "leave-one-domain-out") == ["61.0 ± 0.7", "82.0 ± 1.4", "51.0 ± 0.7", "64.7 ± 0.9"]
    assert "Domain tables as DomainBed prints them" in report and "ddof=0" in report and "20% 'out' and 80% 'in'" in report
    assert "model selection: oracle" in done.stdout  # on the terminal too


@pytest.mark.slow
def test_runs_without_test_records_are_left_out_and_named(cli, lodo_runs, tmp_path):
    bare = write_run(lodo_runs, "adam", 2, 0.99, recipe="digits-dg", test=0.99,
                     **{"optim.lr": 0.01, "data.test_domain": "inverted"})
    done = cli("compare", lodo_runs, "--table", "domains", "--select-over", "optim.lr", "--out", tmp_path / "r")
    assert done.returncode == 0, done.stderr
    assert f"No per-image test records (records/test.npz), so no 80/20 split of the test domain, in {bare.dir.name}" in done.stdout
    report = (tmp_path / "r" / "report.md").read_text()
    assert row(report, "training-domain validation")[0] == "61.0 ± 0.7"  # its 0.99 is in no cell


def test_domain_tables_need_lodo_runs_and_known_keys(main, lodo_runs, tmp_path):
    code, _, err = main("compare", lodo_runs, "--table", "domains", "--select-over", "optim.momentum")
    assert code == 2 and "--select-over optim.momentum: the runs do not differ in it" in err
    code, _, err = main("compare", lodo_runs, "--table", "domains", "--select-over", "optim.lrr")
    assert code == 2 and "--select-over optim.lrr: unknown config key 'optim.lrr'; did you mean 'optim.lr'" in err
    other = tmp_path / "plain"
    write_run(other, "adam", 0, 0.9)
    write_run(other, "sgd", 0, 0.8)
    code, _, err = main("compare", other, "--table", "domains")
    assert code == 2 and "needs leave-one-domain-out runs that differ in data.test_domain" in err
    # the example names Office-Home's domains as its folders and data.test_domain spell them
    assert "data.test_domain=Art,Clipart,Product,Real_World " in err and "RealWorld" not in err
    code, _, err = main("compare", other, "--select-over", "optim.name")
    assert code == 2 and "--select-over goes with --table domains" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
