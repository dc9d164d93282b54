"""Semi-supervised classification as a user takes it: `digits-fixmatch` (10 labels per class, FixMatch on the
rest, an EMA evaluated) through every verb (journey.py), then compared with the supervised baseline on the same
labels (`semisup.method=none`)."""

from __future__ import annotations

from pathlib import Path

from journeys.journey import ClassifierJourney
from journeys.user import summary


class TestDigitsFixMatchJourney(ClassifierJourney):
    recipe = "digits-fixmatch"
    change = "semisup.method=none"
    groups = ("semisup.method=fixmatch", "semisup.method=none")

    monitor = "val_ema_acc"
    model = "cnn-mnist"
    input = [1, 8, 8]

    def test_train_keeps_the_labeled_subset(self, run: Path) -> None:
        assert len((run / "splits" / "labeled.txt").read_text().splitlines()) == 100
        assert "100 labeled" in summary(run)["data_notes"][0]
