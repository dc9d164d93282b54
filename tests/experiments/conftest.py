"""The issue's example sweep on a smaller split, trained once per session and shared by the sweep and report tests."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def example_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """`vislab sweep digits optim.name=adam,sgd --seeds 3 train.epochs=2`, on 300 images a split instead of
    1079/359/359 to stay quick: (sweep directory, exit code, stdout)."""
    from vislab.cli import main

    runs = tmp_path_factory.mktemp("example") / "runs"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["sweep", "digits", "optim.name=adam,sgd", "--seeds", "3", "train.epochs=2",
                     "data.limit=300", "--runs-dir", str(runs), "--name", "example"])
    return runs / "sweeps" / "example", code, out.getvalue()
