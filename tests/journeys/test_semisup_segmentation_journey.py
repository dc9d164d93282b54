"""Semi-supervised segmentation as a user takes it: `shapes-fixmatch` (10% of the scenes labeled, per-pixel
FixMatch on the rest), with an EMA, through every verb (journey.py), then compared with the supervised baseline
on the same labels (`semisup.method=none`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeys.journey import DenseJourney
from journeys.user import SHORT, User


class TestShapesFixMatchJourney(DenseJourney):
    recipe = "shapes-fixmatch"
    overrides = (*SHORT, "data.num_samples=80", "train.batch_size=4", "train.ema.decay=0.9")
    change = "semisup.method=none"
    groups = ("semisup.method=fixmatch", "semisup.method=none")

    # The baseline's config.yaml records the semisup.* defaults in place of the recipe's dropped keys, so compare
    # and board group by three keys (method, ratio, threshold), two of which the baseline never reads; and
    # compare's fANOVA importances, computed for two or more keys, crash (exit 1) when the runs tie.
    @pytest.mark.xfail(strict=True, reason="bug: semisup.method=none runs are labelled with semisup.threshold and "
                       "semisup.ratio defaults they do not read; compare's importances crash on tied runs")
    def test_compare_two_runs_that_differ_in_one_setting(self, user: User, run: Path, second: Path) -> None:
        super().test_compare_two_runs_that_differ_in_one_setting(user, run, second)

    @pytest.mark.xfail(strict=True, reason="bug: semisup.method=none runs are labelled with semisup.threshold and "
                       "semisup.ratio defaults they do not read")
    def test_board_serves_the_runs(self, user: User, run: Path, second: Path) -> None:
        super().test_board_serves_the_runs(user, run, second)
    monitor = "val_ema_miou"

    def test_train_keeps_the_labeled_subset(self, run: Path) -> None:
        assert len((run / "splits" / "labeled.txt").read_text().splitlines()) == 8
