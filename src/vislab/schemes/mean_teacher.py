"""Mean Teacher (Tarvainen & Valpola, 2017): the student's view of the unlabeled images (a strong view, which
``semisup.strong_ops=0`` and ``semisup.cutout=0`` reduce to the weak one) held to an EMA teacher's on the weak
view, the weight ramped up over ``semisup.rampup_epochs``. The run is its teacher, as USB and TorchSSL evaluate
it: validation, best.pt's pick, test metrics and inference use the teacher's weights (summary.json's
best_weights says "teacher")."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ..tasks.base import StepContext
from .consistency import Consistency, unlabeled_pixels
from .losses import ema_update, sigmoid_rampup, softmax_mse


class MeanTeacher(Consistency):
    """See the module docstring."""

    name = "mean_teacher"
    evaluated_model = "teacher"

    def extra_models(self, model: nn.Module) -> dict[str, nn.Module]:
        return {"teacher": copy.deepcopy(model).requires_grad_(False)}

    def step(self, model: nn.Module, batch: dict, ctx: StepContext) -> tuple[torch.Tensor, Any]:
        """The task's loss on the labeled batch + the consistency loss weighted by the ramp at the training epochs
        done, as a fraction (the loader's own count: its sampler decides it)."""
        unlabeled, g, s = ctx.batches["unlabeled"], self.generator(ctx), self.cfg.semisup
        epochs_done = ctx.epoch + ctx.step / ctx.epoch_batches
        student_view = {**unlabeled, "image": self.strong(unlabeled["image"], g)}
        out_labeled, out_student = self.joint_forward(model, [batch, student_view])
        with torch.no_grad():
            target = self.logits(self.joint_forward(ctx.models["teacher"], [unlabeled])[0])
        weight = s.weight * sigmoid_rampup(epochs_done, s.rampup_epochs)
        valid = unlabeled_pixels(unlabeled, self.ignore_index) if self.per_pixel else None
        return self.task.loss(out_labeled, batch) + weight * softmax_mse(self.logits(out_student), target, valid), out_labeled

    def after_optimizer_step(self, model: nn.Module, ctx: StepContext) -> None:
        """The teacher follows the student, with Tarvainen & Valpola's early-step decay
        min(1 - 1 / (step + 1), ema_decay) so that it forgets its random start quickly."""
        ema_update(ctx.models["teacher"], model, min(1 - 1 / (ctx.global_step + 1), self.cfg.semisup.ema_decay))
