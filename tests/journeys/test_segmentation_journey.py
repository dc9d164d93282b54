"""Segmentation as a user takes it: the embedded `shapes-unet`, with an EMA, through every verb (journey.py:
train -> runs -> eval (raw, EMA, test-time augmentation) -> predict a folder of PNG and JPEG pictures -> export
-> eval and predict --exported -> profile -> calibrate, refused -> compare -> board)."""

from __future__ import annotations

from pathlib import Path

from journeys.journey import DenseJourney


class TestShapesUNetJourney(DenseJourney):
    recipe = "shapes-unet"
    groups = ("optim.lr=0.004", "optim.lr=0.01")
    monitor = "val_ema_miou"

    def test_train_writes_the_segmentation_artifacts(self, run: Path) -> None:
        assert {"per_class_iou.csv", "per_class_iou.md"} <= {p.name for p in (run / "artifacts").iterdir()}
