"""Shared fixtures: runs and data go to a temporary folder; the CLI runs in-process or as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

pytest_plugins = ("http_server",)  # the `server` fixture: files served over HTTP on 127.0.0.1

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
SHARED_DATA = ROOT.parent / "shared" / "data"

# Settings that make a training run take seconds on 2 CPU cores.
TINY = {"train.epochs": 1, "train.progress": False}


# The longest work first, so that no worker is left with a long journey while the others idle at the end: the
# journeys (one class, one training its steps share, each), then the recipe and combination matrices (each case a
# unit of its own, see pytest_xdist_make_scheduler), then the rest in the order collected.
FIRST = ("tests/journeys/test_", "tests/journeys/test_recipes.py", "tests/journeys/test_combinations.py")
ONE_BY_ONE = FIRST[1:]  # subprocess matrices: their cases share no fixture, so any worker may take any case


def _order(item: pytest.Item) -> int:
    if item.nodeid.startswith(ONE_BY_ONE):
        return 1
    return 0 if item.nodeid.startswith(FIRST[0]) else 2


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest work first (``FIRST``); tests marked ``cuda`` need a CUDA device: elsewhere they are skipped
    with that reason."""
    import torch

    items.sort(key=_order)  # stable: within each part, the order collected
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (benchmarks/gpu_check.sh runs these on a GPU)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist loadscope`` (`make test`), but each case of the subprocess matrices a unit of work of its own:
    by default a module's tests form one unit, and one worker would run a whole matrix alone."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid if nodeid.startswith(ONE_BY_ONE) else super()._split_scope(nodeid)

    return Scheduling(config, log)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs go under the test's tmp_path; no test reads or writes ~/.cache or ./runs."""
    monkeypatch.setenv("VISLAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("VISLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # pretrained weights: never the user's cache
    monkeypatch.setenv("MPLBACKEND", "Agg")


@pytest.fixture
def main(capsys: pytest.CaptureFixture) -> Callable[..., tuple[int, str, str]]:
    """``main("train", "digits", ...) -> (exit code, stdout, stderr)``: the real CLI function, in-process."""

    def call(*args: object) -> tuple[int, str, str]:
        from vislab.cli import main as cli_main

        code = cli_main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def run_cli(*args: object, env: dict | None = None, timeout: float = 600, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m vislab ARGS`` in a real subprocess, on this checkout's sources."""
    full_env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "vislab", *map(str, args)],
        capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd,
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess]:
    return run_cli


@pytest.fixture
def shared_data() -> Path:
    """../shared/data when this checkout has it; tests that need it skip cleanly otherwise."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (it is not part of a fresh clone)")
    return SHARED_DATA


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Downloads fail fast wherever the suite runs: requests go through a proxy on a closed local port, and
    torch's hub cache is empty."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
