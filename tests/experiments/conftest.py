"""A small real sweep, trained once per session and shared by the sweep and report tests."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def small_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """The issue's example (`vislab sweep digits optim.name=adam,sgd --seeds 3 train.epochs=2`) cut to two
    seeds and 150 images a split to stay quick: (sweep directory, exit code, stdout)."""
    from vislab.cli import main

    runs = tmp_path_factory.mktemp("small") / "runs"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["sweep", "digits", "optim.name=adam,sgd", "--seeds", "2", "train.epochs=2",
                     "data.limit=150", "--runs-dir", str(runs), "--name", "small"])
    return runs / "sweeps" / "small", code, out.getvalue()
