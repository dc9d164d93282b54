"""A finished tiny digits run, trained once per module, to serve as a teacher."""

from __future__ import annotations

from pathlib import Path

import pytest

TEACHER_SETTINGS = {"train.epochs": 1, "data.limit": 120, "train.progress": False}


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import vislab

    runs = tmp_path_factory.mktemp("teacher")
    return vislab.train("digits", runs_dir=runs, **TEACHER_SETTINGS).dir
