"""A finished run as a teacher (distillation, Noisy Student): found, finished, compatible with the
student's data, then loaded frozen. Every check raises bad input before the student's run directory exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from ..data.bundle import DataInfo
from ..errors import VislabError
from ..runs import Run, read_data_info


def finished_run(path: str, key: str) -> Run:
    """The run directory named by config key ``key``; missing, not a run, or not finished is bad input."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise VislabError(f"{key}={p}: no such run directory; train the teacher first and name its run directory")
    if not (p / "config.yaml").is_file():
        raise VislabError(f"{key}={p} is not a run directory (it has no config.yaml)")
    run = Run(p)
    status = run.summary.get("status", "not started")
    if status != "completed" or not run.checkpoint_path("best").is_file():
        raise VislabError(
            f"{key}={p} is unfinished (status {status}); finish it with `vislab train --resume {p}` or name a finished run"
        )
    return run


def teacher_info(run: Run, student: DataInfo, key: str) -> DataInfo:
    """The teacher's data_info.json, which must describe the student's classes and channels."""
    info = read_data_info(run)
    if info is None:
        raise VislabError(f"{key}={run.dir} has no data_info.json, so its classes cannot be checked; retrain it")
    checks = [
        ("task", info.task, student.task),
        ("classes", info.class_names, student.class_names),
        ("channels", info.channels, student.channels),
    ]
    for what, theirs, ours in checks:
        if theirs != ours:
            raise VislabError(f"{key}={run.dir} is incompatible: its {what} are {theirs}, this run's are {ours}; "
                              "name a teacher trained on the same classes and channels")
    return info


@dataclass
class Teacher:
    """A frozen model and the input statistics it was trained with (``mean``/``std`` [1, C, 1, 1])."""

    run: Run
    model: nn.Module
    mean: torch.Tensor
    std: torch.Tensor

    def logits(self, image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
               run: Callable[[nn.Module, torch.Tensor], torch.Tensor], model: Optional[nn.Module] = None) -> torch.Tensor:
        """The teacher's class logits [B, K(, H, W)] for images normalized with the student's ``mean``/``std``
        (renormalized to the teacher's own statistics first); ``run(model, images)`` is the task's forward
        followed by its choice of class logits; ``model`` is the teacher where it was placed (default its own)."""
        if not (torch.equal(mean, self.mean.to(mean.device)) and torch.equal(std, self.std.to(std.device))):
            image = (image * std + mean - self.mean.to(image.device)) / self.std.to(image.device)
        with torch.no_grad():
            return run(model if model is not None else self.model, image)


def load_teacher(path: str, student: DataInfo, key: str) -> Teacher:
    """The finished run at ``path`` as a frozen teacher in eval mode (on the CPU; the engine places it)."""
    from .. import config as config_mod
    from .. import tasks
    from ..engine import describe_checkpoint, evaluated_weights, load_checkpoint, load_weights

    run = finished_run(path, key)
    info = teacher_info(run, student, key)
    cfg = config_mod.resolve(run.config_path, {"model.pretrained": False, "model.weights": None})
    model = tasks.build(cfg, info).build_model(cfg, info)  # as the teacher's task built it (DG wraps its net)
    best = run.checkpoint_path("best")
    state = load_checkpoint(best)
    load_weights(model, evaluated_weights(state), describe_checkpoint(best, state))
    model.eval().requires_grad_(False)
    return Teacher(run, model, stats(info.mean), stats(info.std))


def stats(values: Any) -> torch.Tensor:
    """Per-channel statistics as [1, C, 1, 1]."""
    return torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1)
