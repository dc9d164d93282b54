"""Semi-supervised segmentation as a user takes it: `shapes-fixmatch` (10% of the scenes labeled, per-pixel
FixMatch on the rest), with an EMA, through every verb (journey.py), then compared with the supervised baseline
on the same labels (`semisup.method=none`)."""

from __future__ import annotations

from pathlib import Path

from journeys.journey import DenseJourney
from journeys.user import SHORT


class TestShapesFixMatchJourney(DenseJourney):
    recipe = "shapes-fixmatch"
    overrides = (*SHORT, "data.num_samples=80", "train.batch_size=4", "train.ema.decay=0.9")
    change = "semisup.method=none"
    groups = ("semisup.method=fixmatch", "semisup.method=none")

    monitor = "val_ema_miou"

    def test_train_keeps_the_labeled_subset(self, run: Path) -> None:
        assert len((run / "splits" / "labeled.txt").read_text().splitlines()) == 8
