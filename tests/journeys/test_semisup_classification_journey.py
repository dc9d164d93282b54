"""Semi-supervised classification as a user takes it: `digits-fixmatch` (10 labels per class, FixMatch on the
rest, an EMA evaluated) through every verb (journey.py), then compared with the supervised baseline on the same
labels (`semisup.method=none`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeys.journey import ClassifierJourney
from journeys.user import User, summary


class TestDigitsFixMatchJourney(ClassifierJourney):
    recipe = "digits-fixmatch"
    change = "semisup.method=none"
    groups = ("semisup.method=fixmatch", "semisup.method=none")

    # The baseline's config.yaml records the semisup.* defaults in place of the recipe's dropped keys, so compare
    # and board group by three keys, two of which the baseline never reads; and compare's fANOVA importances,
    # computed for two or more keys, crash (exit 1, "zero total variance in all trees") when the runs tie.
    @pytest.mark.xfail(strict=True, reason="bug: semisup.method=none runs are labelled with semisup.threshold and "
                       "semisup.cutout defaults they do not read; compare's importances crash on tied runs")
    def test_compare_two_runs_that_differ_in_one_setting(self, user: User, run: Path, second: Path) -> None:
        super().test_compare_two_runs_that_differ_in_one_setting(user, run, second)

    @pytest.mark.xfail(strict=True, reason="bug: semisup.method=none runs are labelled with semisup.threshold and "
                       "semisup.cutout defaults they do not read")
    def test_board_serves_the_runs(self, user: User, run: Path, second: Path) -> None:
        super().test_board_serves_the_runs(user, run, second)
    monitor = "val_ema_acc"
    model = "cnn-mnist"
    input = [1, 8, 8]

    def test_train_keeps_the_labeled_subset(self, run: Path) -> None:
        assert len((run / "splits" / "labeled.txt").read_text().splitlines()) == 100
        assert "100 labeled" in summary(run)["data_notes"][0]
