"""The protocol every scheme answers, as USB's ``AlgorithmBase`` does: one class per method, chosen by name from
``SCHEMES`` (schemes/task.py), wrapped around any task by ``SchemeTask``.

A scheme decides the members of the task interface that learning beyond labels changes, and nothing else:

- ``extra_models(model)``: the models it trains beside ``model`` (an EMA teacher, a frozen one, pseudo-labels);
- ``extra_streams(bundle)``: the training streams besides the labeled one (the unlabeled pool);
- ``step(model, batch, ctx) -> (loss, outputs)``: one training step; ``outputs`` are the labeled batch's, which
  the task's training metrics read;
- ``after_optimizer_step(model, ctx)``: after each optimizer step (Mean Teacher's EMA);
- ``evaluated_model``: the extra model validation, best.pt and inference use (None: the trained weights).

The engine places, seeds, checkpoints and resumes what a scheme declares, as it does a task's (tasks.base). The
``semisup.*`` keys a method reads are declared beside the keys, in config.schema.SEMISUP_READS: they are checked
before torch is imported. The constructor checks and loads what the scheme needs (a teacher), before any run
directory exists.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from ..config import Config
from ..data.bundle import DataBundle
from ..tasks.base import StepContext, Stream, Task
from .teacher import Teacher, stats

_LABELS = ("target", "index", "size")  # not model inputs: never joined


class Scheme:
    """See the module docstring. ``task`` is the base task: its forward, loss and class logits are the scheme's
    building blocks; ``per_pixel`` (its declaration) decides per-image or per-pixel consistency."""

    name: str = ""
    evaluated_model: Optional[str] = None

    def __init__(self, task: Task, cfg: Config, bundle: DataBundle) -> None:
        self.task, self.cfg, self.bundle = task, cfg, bundle
        self.per_pixel = task.per_pixel
        info = bundle.info
        self.ignore_index = info.ignore_index
        self.mean = stats(info.mean if cfg.aug.normalize else [0.0] * info.channels)
        self.std = stats(info.std if cfg.aug.normalize else [1.0] * info.channels)
        self.teacher: Optional[Teacher] = None  # a finished run, for the schemes that learn from one

    def extra_models(self, model: nn.Module) -> dict[str, nn.Module]:
        """Models besides ``model``, by name (the engine places and checkpoints them)."""
        return {"teacher": self.teacher.model} if self.teacher is not None else {}

    def extra_streams(self, bundle: DataBundle) -> dict[str, Stream]:
        """Training streams besides ``bundle.train``, by name."""
        return {}

    def step(self, model: nn.Module, batch: dict, ctx: StepContext) -> tuple[torch.Tensor, Any]:
        """(loss [] to minimize, the labeled batch's outputs) for one training batch."""
        raise NotImplementedError

    def after_optimizer_step(self, model: nn.Module, ctx: StepContext) -> None:
        """Called after each optimizer step, after the task's own hook."""

    # -- building blocks ---------------------------------------------------------------------------

    def logits(self, outputs: Any) -> torch.Tensor:
        """Class logits among the task's outputs: per pixel for per-pixel tasks, else its class head."""
        return outputs["out"] if self.per_pixel else self.task.class_logits(outputs)

    def joint_forward(self, model: nn.Module, parts: list[dict]) -> list[Any]:
        """The task's forward on the parts joined into one batch (BatchNorm sees them all, as FixMatch's reference
        does), its outputs split back per part."""
        outputs = self.task.forward(model, join(parts))
        return split_outputs(outputs, [p["image"].shape[0] for p in parts])

    def teacher_logits(self, teacher: nn.Module, batch: dict) -> torch.Tensor:
        """The frozen teacher's class logits for a batch normalized as this run's data."""
        image = batch["image"]
        run = lambda m, x: self.logits(self.task.forward(m, {**batch, "image": x}))  # noqa: E731
        return self.teacher.logits(image, self.mean.to(image.device), self.std.to(image.device), run, model=teacher)  # type: ignore[union-attr]


def join(parts: list[dict]) -> dict:
    """Batches as one: the per-sample model inputs every part has (``image``, a domain id ...) concatenated."""
    sizes = [p["image"].shape[0] for p in parts]
    keys = [k for k, v in parts[0].items() if k not in _LABELS and torch.is_tensor(v) and v.ndim and v.shape[0] == sizes[0]
            and all(k in p and torch.is_tensor(p[k]) and p[k].shape[0] == n for p, n in zip(parts, sizes))]
    return {k: torch.cat([p[k] for p in parts]) for k in keys}


def split_outputs(outputs: Any, sizes: list[int]) -> list[Any]:
    """Model outputs of a joined batch (a tensor, or a dict of tensors) cut into ``sizes`` parts; dict
    entries that are not per sample are given to every part."""
    total = sum(sizes)
    if isinstance(outputs, dict):
        parts = {k: torch.split(v, sizes) if torch.is_tensor(v) and v.ndim and v.shape[0] == total else [v] * len(sizes)
                 for k, v in outputs.items()}
        return [{k: p[i] for k, p in parts.items()} for i in range(len(sizes))]
    return list(torch.split(outputs, sizes))
