"""The default progress display while training, as a user sees it: a bar under a terminal, plain lines piped."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import SRC

SMOKE = ("train.epochs=1", "train.limit_batches=2")


def train_piped(recipe: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "vislab", "train", recipe, *SMOKE],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("recipe", ["shapes-unet", "shapes-panoptic"])
def test_dense_recipes_show_running_miou_while_piped(recipe: str) -> None:
    # Segmentation metrics accumulate a confusion matrix: the running display once called float() on it.
    proc = train_piped(recipe)
    assert proc.returncode == 0, proc.stderr[-2000:]
    running = [line for line in proc.stderr.splitlines() if line.startswith("epoch 1/1  50% (1/2)")]
    assert running and " miou " in running[0] and "iou_" not in running[0]
