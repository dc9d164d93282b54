"""Two tiny trained runs shared by the export tests: digits classification (resized, so preprocessing
matters) and shapes panoptic segmentation (a size the UNet must pad)."""

from __future__ import annotations

import pytest

import vislab

QUICK = {"train.epochs": 1, "train.progress": False, "data.num_workers": 0}


@pytest.fixture(scope="package")
def digits_run(tmp_path_factory) -> vislab.Run:
    overrides = {"aug.resize": [12, 12], "data.limit": 400}
    return vislab.train("digits", runs_dir=tmp_path_factory.mktemp("runs"), **QUICK, **overrides)


@pytest.fixture(scope="package")
def panoptic_run(tmp_path_factory) -> vislab.Run:
    overrides = {"data.num_samples": 12, "data.image_size": [60, 60], "train.batch_size": 4, "model.widths": [4, 8, 16, 32]}
    return vislab.train("shapes-panoptic", runs_dir=tmp_path_factory.mktemp("runs"), **QUICK, **overrides)


@pytest.fixture(scope="package")
def ema_run(tmp_path_factory) -> vislab.Run:
    """digits with an EMA of its weights (decay 0.8: after a few steps it differs from the weights)."""
    overrides = {"data.limit": 200, "train.ema.decay": 0.8}
    return vislab.train("digits", runs_dir=tmp_path_factory.mktemp("runs"), **QUICK, **overrides)
