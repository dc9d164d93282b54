"""Domain generalization as a user takes it: the embedded `digits-dg` (trained on three styles of digits,
tested on the left-out one), with an EMA, through every verb (journey.py), on photographed digits."""

from __future__ import annotations

from pathlib import Path

from journeys.journey import ClassifierJourney
from journeys.user import SHORT, summary


class TestDigitsDGJourney(ClassifierJourney):
    recipe = "digits-dg"
    overrides = (*SHORT, "train.ema.decay=0.9")
    groups = ("optim.lr=0.002", "optim.lr=0.01")
    monitor = "val_ema_acc"
    model = "cnn-dg"
    input = [3, 32, 32]

    def test_train_reports_each_domain(self, run: Path) -> None:
        assert (run / "artifacts" / "per_domain.csv").is_file()
        assert summary(run)["test_size"] > 0
