"""Optimizers and learning-rate schedules by name. Schedules are factors of the base rate, stepped every batch.

Parameters fall into groups by rate and weight decay (``param_groups``): the backbone that the model's
contract names may learn ``optim.backbone_lr_mult`` times slower, ``optim.layer_decay`` lowers the rate
layer by layer from the head down (timm's layer-wise decay), and ``optim.no_decay_norm_bias`` exempts
normalization weights and biases from weight decay. Every group keeps its ``lr_scale``; schedules scale
each group's rate by the same factor.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..config import OptimConfig, SchedConfig
from ..errors import VislabError
from ..models.contract import contract_of
from .weights import unwrap

CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def layer_ids(model: nn.Module) -> dict[str, int]:
    """Parameter name -> layer number, from the input (0) up to the head (the largest).

    timm models group themselves (``group_matcher``, as timm's own layer decay does). Other models count
    the units of their contract's backbone in order: a container of blocks (a ResNet stage, ``features``)
    gives one unit per block, any other module is one unit, and consecutive plain layers (``conv1``,
    ``bn1``: the stem) share one. Whatever is not backbone (decoders, heads) is the last layer.
    """
    if hasattr(model, "group_matcher"):
        from timm.models import group_parameters

        return group_parameters(model, model.group_matcher(coarse=False), reverse=True)
    layers: list[list[str]] = []
    previous_plain = False
    for name, unit in backbone_units(model):
        plain = not any(True for _ in unit.children())
        if plain and previous_plain:
            layers[-1].append(name)
        else:
            layers.append([name])
        previous_plain = plain
    prefixes = [(tuple(n + "." for n in names), i) for i, names in enumerate(layers)]
    return {
        name: next((i for starts, i in prefixes if name.startswith(starts)), len(layers))
        for name, _ in model.named_parameters()
    }


def backbone_units(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The contract's backbone modules, containers of blocks opened one level; units without parameters left out."""
    units = []
    for name in contract_of(model).backbone:
        module = model.get_submodule(name)
        children = list(module.named_children())
        if isinstance(module, CONTAINERS) and any(any(True for _ in c.children()) for _, c in children):
            units.extend((f"{name}.{child}", m) for child, m in children)
        else:
            units.append((name, module))
    return [(n, m) for n, m in units if any(True for _ in m.parameters())]


def param_groups(cfg: OptimConfig, model: nn.Module) -> list[dict[str, Any]]:
    """The trainable parameters (frozen stages left out) in groups of equal rate and weight decay, the
    group at the full rate first; each group holds ``params``, ``lr``, ``weight_decay`` and ``lr_scale``."""
    model = unwrap(model)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    scales = {n: 1.0 for n, _ in named}
    if cfg.layer_decay is not None:
        ids = layer_ids(model)
        top = max(ids.values())
        if top == 0:
            raise VislabError(
                f"optim.layer_decay: {type(model).__name__} has no backbone layers below its head to decay; set optim.layer_decay=null"
            )
        scales = {n: s * cfg.layer_decay ** (top - ids.get(n, top)) for n, s in scales.items()}
    if cfg.backbone_lr_mult is not None:
        backbone = tuple(b + "." for b in contract_of(model).backbone)
        if not backbone:
            raise VislabError(
                f"optim.backbone_lr_mult: {type(model).__name__} has no pretrained backbone; set optim.backbone_lr_mult=null"
            )
        scales = {n: s * cfg.backbone_lr_mult if n.startswith(backbone) else s for n, s in scales.items()}
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, param in named:
        # timm's rule: 1-D parameters are the normalization layers' weights and every bias
        decay = 0.0 if cfg.no_decay_norm_bias and param.ndim <= 1 else cfg.weight_decay
        groups.setdefault((scales[name], decay), []).append(param)
    order = sorted(groups, key=lambda k: (k[0] != 1.0, -k[0], -k[1]))
    return [{"params": groups[k], "lr": cfg.lr * k[0], "weight_decay": k[1], "lr_scale": k[0]} for k in order]


def build_optimizer(cfg: OptimConfig, model: nn.Module) -> torch.optim.Optimizer:
    """``optim.name`` over ``param_groups``; ``optimizer.defaults["lr"]`` is ``optim.lr``."""
    params = param_groups(cfg, model)
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
    counterparts stepped per epoch would; cosine, poly and onecycle are smooth over all steps. Only plain
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
        self.power = cfg.power
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
        elif self.name == "poly":  # DeepLab's (1 - t)^power, ending at min_lr as MMSegmentation's PolyLR
            factor = self.min_factor + (1 - self.min_factor) * (1 - t) ** self.power
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
    """A LambdaLR to step after every optimizer step; every parameter group's rate follows the same factor."""
    base_lr = optimizer.defaults["lr"]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, LrFactor(cfg, base_lr, steps_per_epoch, epochs))
