"""Optimizers and learning-rate schedules by name. Schedules are factors of the base rate, stepped every batch."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import OptimConfig, SchedConfig


def build_optimizer(cfg: OptimConfig, model: nn.Module) -> torch.optim.Optimizer:
    """``optim.name`` over the parameters that require gradients (frozen stages are left out)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.name == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, weight_decay=cfg.weight_decay, momentum=cfg.momentum
        )
    raise ValueError(f"unknown optimizer {cfg.name}")  # the config's Literal type rules this out


class LrFactor:
    """The factor applied to the base rate after ``step`` optimizer steps.

    step, multistep and the warmup change at epoch or step granularity exactly as their torch
    counterparts stepped per epoch would; cosine and onecycle are smooth over all steps. Only plain
    numbers are kept as attributes, so LambdaLR's state_dict loads with ``weights_only=True``.
    """

    def __init__(self, cfg: SchedConfig, base_lr: float, steps_per_epoch: int, epochs: int) -> None:
        self.name = cfg.name
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.total = max(1, self.steps_per_epoch * epochs)
        self.step_size = cfg.step_size
        self.gamma = cfg.gamma
        self.milestones = list(cfg.milestones)
        self.min_factor = cfg.min_lr / base_lr if base_lr > 0 else 0.0
        self.pct_start = cfg.pct_start
        self.warmup_steps = int(round(cfg.warmup_epochs * self.steps_per_epoch))
        self.warmup_start = cfg.warmup_start_factor

    def __call__(self, step: int) -> float:
        epoch = step // self.steps_per_epoch
        t = min(step / self.total, 1.0)
        if self.name == "step":
            factor = self.gamma ** (epoch // max(1, self.step_size))
        elif self.name == "multistep":
            factor = self.gamma ** sum(epoch >= m for m in self.milestones)
        elif self.name == "cosine":
            factor = self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * t))
        elif self.name == "onecycle":
            # torch's OneCycleLR defaults: start at max/25, anneal (cosine) up, then down to start/1e4.
            start, end = 1 / 25, 1 / 25 / 1e4
            if t < self.pct_start:
                u = t / self.pct_start
                factor = start + (1 - start) * 0.5 * (1 - math.cos(math.pi * u))
            else:
                u = (t - self.pct_start) / max(1e-12, 1 - self.pct_start)
                factor = end + (1 - end) * 0.5 * (1 + math.cos(math.pi * u))
        else:
            factor = 1.0
        if step < self.warmup_steps:
            factor *= self.warmup_start + (1 - self.warmup_start) * step / self.warmup_steps
        return factor


def build_scheduler(
    cfg: SchedConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int, epochs: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR to step after every optimizer step."""
    base_lr = optimizer.param_groups[0]["lr"]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, LrFactor(cfg, base_lr, steps_per_epoch, epochs))
