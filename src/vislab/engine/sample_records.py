"""The per-sample records of a finished run's splits (records/<split>.npz), from one evaluation pass each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from .. import records
from ..config import Config
from ..data.loading import Loader
from ..tasks.base import Task
from .evaluation import predictions


def write_records(run_dir: Path, model: nn.Module, task: Task, fabric: Any, cfg: Config, loaders: dict[str, Loader],
                  checkpoint: str = "best") -> list[Path]:
    """records/<split>.npz for each split (unsharded loaders, one process): the task's per-image rows."""
    written = []
    for split, loader in loaders.items():
        rows = (task.sample_records(outputs, batch) for outputs, batch in predictions(model, loader, task, fabric, cfg))
        path = records.write(run_dir, split, rows, checkpoint)
        if path is not None:
            written.append(path)
    return written
