"""Model EMA: an exponential moving average of the weights, validated beside them every epoch.

As timm's ModelEmaV3: every floating-point entry of the state dict (parameters and BatchNorm statistics)
moves toward the model's by ``1 - decay`` in one fused ``_foreach_lerp_``; integer entries (BatchNorm's
batch count) are copied. ``warmup_steps`` ramps the decay up as Ultralytics' ModelEMA does,
``decay * (1 - exp(-updates / warmup_steps))``, so early averages are not dominated by the random
initialization. The EMA is updated after every ``every_steps``-th optimizer step.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from ..config import EmaConfig
from ..errors import VislabError
from .weights import load_weights


Pairs = tuple[list[torch.Tensor], list[torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]


def state_pairs(average: nn.Module, model: nn.Module) -> Pairs:
    """The live tensors of two copies of one architecture, paired: (average's floating entries, model's, and
    (average, model) pairs of the other entries such as BatchNorm's batch count)."""
    avg, live = average.state_dict(), model.state_dict()
    floats = [k for k, v in avg.items() if v.is_floating_point()]
    return ([avg[k] for k in floats], [live[k] for k in floats],
            [(avg[k], live[k]) for k, v in avg.items() if not v.is_floating_point()])


@torch.no_grad()
def move_toward(pairs: Pairs, weight: float) -> None:
    """average += weight * (model - average) on the floating entries, in one fused lerp; the others copied."""
    avg_floats, live_floats, others = pairs
    torch._foreach_lerp_(avg_floats, live_floats, weight)
    for a, m in others:
        a.copy_(m)


class ModelEMA:
    """The averaged copy (``module``, in evaluation mode, no gradients) of a model, and its update count."""

    def __init__(self, model: nn.Module, cfg: EmaConfig) -> None:
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = float(cfg.decay)
        self.warmup_steps = cfg.warmup_steps
        self.every_steps = cfg.every_steps
        self.steps = 0  # optimizer steps seen
        self.updates = 0  # EMA updates made
        self._pairs: Pairs | None = None

    def decay_at(self, updates: int) -> float:
        """The decay of update number ``updates`` (1-based)."""
        if self.warmup_steps:
            return self.decay * (1 - math.exp(-updates / self.warmup_steps))
        return self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Called after each optimizer step of ``model`` (the unwrapped module the EMA was copied from)."""
        self.steps += 1
        if self.steps % self.every_steps:
            return
        self.updates += 1
        if self._pairs is None:  # state_dict() returns the live tensors; pairing them once saves the walk
            self._pairs = state_pairs(self.module, model)
        move_toward(self._pairs, 1.0 - self.decay_at(self.updates))

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights and counts, for a checkpoint."""
        return {"weights": self.module.state_dict(), "steps": self.steps, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_weights(self.module, state["weights"], "the checkpoint's EMA weights")
        self.steps, self.updates = int(state["steps"]), int(state["updates"])


def ema_weights(checkpoint: dict, path: Any) -> dict[str, torch.Tensor]:
    """The EMA weights a checkpoint holds; one without them is bad input."""
    ema = checkpoint.get("ema")
    if not ema:
        raise VislabError(f"checkpoint {path} holds no EMA weights (the run had train.ema.decay=null); use --weights raw")
    return ema["weights"]
