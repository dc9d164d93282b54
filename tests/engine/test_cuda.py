"""What only a CUDA device can show (``pytest -m cuda``; benchmarks/gpu_check.sh runs these): mixed-precision
steps, DDP over the GPUs present, channels_last with torch.compile, and an exact resume on the GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import run_cli

pytestmark = pytest.mark.cuda

QUICK = ["train.accelerator=cuda", "train.epochs=2", "train.progress=false"]


def trained(tmp_path: Path, *settings: str) -> dict:
    runs = tmp_path / "runs"
    proc = run_cli("train", "digits", *QUICK, *settings, "--runs-dir", runs, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = list((runs / "digits").iterdir())
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_trains_on_the_gpu(tmp_path: Path, precision: str):
    summary = trained(tmp_path, f"train.precision={precision}")
    assert summary["status"] == "completed" and summary["device"].startswith("cuda")
    assert summary["precision"] == precision
    assert summary["metrics"]["test_acc"] > 0.5, summary["metrics"]  # 2 epochs of digits learn something


def test_ddp_over_the_gpus_present(tmp_path: Path):
    n = torch.cuda.device_count()
    summary = trained(tmp_path, f"train.devices={n}", "train.strategy=ddp")
    assert summary["world_size"] == n and summary["status"] == "completed"
    assert summary["metrics"]["test_acc"] > 0.5


def test_channels_last_and_compile(tmp_path: Path):
    summary = trained(tmp_path, "train.channels_last=true", "train.compile=true")
    assert summary["status"] == "completed" and summary["metrics"]["test_acc"] > 0.5


def test_killed_on_the_gpu_the_resumed_run_is_bit_identical(tmp_path: Path):
    """Deterministic algorithms on the GPU: a run SIGKILLed mid-epoch and resumed equals the uninterrupted one."""
    from engine.test_resume_exact import SETTINGS, assert_identical, finished, killed_mid_epoch_and_resumed, run_dir_of, start

    settings = [*SETTINGS, "train.accelerator=cuda"]
    reference_runs = tmp_path / "reference"
    finished(start("train", "--runs-dir", reference_runs, "digits", *settings))
    run = killed_mid_epoch_and_resumed(tmp_path / "runs", *settings)
    assert_identical(run, run_dir_of(reference_runs))
