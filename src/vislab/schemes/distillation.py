"""Knowledge distillation (Hinton et al., 2015) from a finished run (``loss.distill.*``): (1 - weight) x the task's
loss + weight x T^2 KL to the teacher's softened classes (per pixel: the labeled pixels)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..config import Config
from ..data.bundle import DataBundle
from ..tasks.base import StepContext, Task
from .losses import distillation_loss
from .scheme import Scheme
from .teacher import load_teacher


class Distillation(Scheme):
    """See the module docstring; the teacher is checked and loaded when the scheme is made."""

    name = "distillation"

    def __init__(self, task: Task, cfg: Config, bundle: DataBundle) -> None:
        super().__init__(task, cfg, bundle)
        self.teacher = load_teacher(cfg.loss.distill.teacher, bundle.info, "loss.distill.teacher")  # type: ignore[union-attr,arg-type]

    def step(self, model: nn.Module, batch: dict, ctx: StepContext) -> tuple[torch.Tensor, Any]:
        d = self.cfg.loss.distill
        outputs = self.task.forward(model, batch)
        target = self.teacher_logits(ctx.models["teacher"], batch)
        valid = batch["target"] != self.ignore_index if self.per_pixel else None
        kd = distillation_loss(self.logits(outputs), target, d.temperature, valid)  # type: ignore[union-attr]
        return (1 - d.weight) * self.task.loss(outputs, batch) + d.weight * kd, outputs  # type: ignore[union-attr]
