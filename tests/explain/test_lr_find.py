"""vislab lr-find: the range test on a recipe's own training step, a suggested optim.lr, no run left behind."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

from vislab.config import resolve


def test_lr_find_on_digits_suggests_a_rate_near_the_recipes_and_leaves_no_run(cli, tmp_path):
    runs = tmp_path / "runs"
    done = cli("lr-find", "digits", "--out", tmp_path, env={"VISLAB_RUNS": str(runs)})
    assert done.returncode == 0, done.stderr
    suggested = [float(v) for v in re.findall(r"optim\.lr=([0-9.e+-]+)", done.stdout)]
    assert len(suggested) == 2, done.stdout
    tuned = resolve("digits").optim.lr
    assert all(tuned / 10 <= lr <= tuned * 10 for lr in suggested), (suggested, tuned)
    with open(tmp_path / "lr_find.csv") as f:
        rows = list(csv.DictReader(f))
    assert 30 <= len(rows) <= 100 and list(rows[0]) == ["step", "lr", "loss", "smoothed_loss"]
    rates = [float(r["lr"]) for r in rows]
    assert math.isclose(rates[0], 1e-7) and all(b > a for a, b in zip(rates, rates[1:]))
    assert (tmp_path / "lr_find.png").stat().st_size > 10_000
    assert not runs.exists() or not any(runs.iterdir())


def test_a_range_that_goes_nowhere_is_bad_input(cli, tmp_path):
    done = cli("lr-find", "digits", "--min", "1", "--max", "0.1", "--out", tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--min 1.0 and --max 0.1: the range needs 0 < --min < --max" in done.stderr
    assert not list(Path(tmp_path).iterdir())
