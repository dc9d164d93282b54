"""Panoptic segmentation as a user takes it: the embedded `shapes-panoptic` (a UNet with center and offset
heads), with an EMA, through every verb (journey.py), with a panoptic PNG per picture, other grouping settings
at evaluation and a COCO panoptic export."""

from __future__ import annotations

import json
from pathlib import Path


from journeys.journey import DenseJourney
from journeys.user import User, printed


class TestShapesPanopticJourney(DenseJourney):
    recipe = "shapes-panoptic"
    groups = ("optim.lr=0.004", "optim.lr=0.01")
    monitor = "val_ema_pq"
    metrics = ("pq", "miou")
    panoptic = True

    def test_eval_with_other_grouping_settings_and_a_coco_export(self, user: User, run: Path) -> None:
        coco = user.home / "coco"
        out = user.ok("eval", run, "eval.panoptic.nms_kernel=7", "--export-panoptic", coco).stdout
        assert 0 <= printed(out)["val_pq"] <= 1
        assert json.loads((run / "eval_val_best.json").read_text())["panoptic"]["nms_kernel"] == 7
        for side in ("predictions", "ground_truth"):
            annotations = json.loads((coco / f"{side}.json").read_text())["annotations"]
            assert annotations and len(list((coco / side).glob("*.png"))) == len(annotations)

    def test_train_writes_the_panoptic_artifacts(self, run: Path) -> None:
        assert any("pq" in p.name for p in (run / "artifacts").iterdir())
