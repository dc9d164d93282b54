"""Weight averaging over the last K epochs (``train.average_last``), as stochastic weight averaging does
with a constant rate: the equal mean of the weights at the end of each of those epochs, then BatchNorm
statistics re-estimated on training batches (averaged weights do not fit the averaged statistics).
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

import torch
from torch import nn

from .weights import load_weights


class WeightAverage:
    """The running mean of the floating-point weights at the end of epochs ``first`` (1-based) and later."""

    def __init__(self, k: int, epochs: int, device: torch.device) -> None:
        self.first = max(1, epochs - k + 1)
        self.device = device
        self.mean: dict[str, torch.Tensor] = {}
        self.epochs: list[int] = []  # the epochs averaged so far

    @torch.no_grad()
    def add(self, model: nn.Module, epoch: int) -> None:
        """Fold in ``model``'s weights at the end of ``epoch`` (1-based) when it is one of the last K."""
        if epoch < self.first:
            return
        self.epochs.append(epoch)
        n = len(self.epochs)
        for key, value in model.state_dict().items():
            if not value.is_floating_point():
                continue
            if key not in self.mean:
                self.mean[key] = value.detach().clone()
            else:
                self.mean[key].add_(value.detach() - self.mean[key], alpha=1.0 / n)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": {k: v.cpu() for k, v in self.mean.items()}, "epochs": list(self.epochs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean = {k: v.to(self.device) for k, v in state["mean"].items()}
        self.epochs = list(state["epochs"])

    def averaged(self, model: nn.Module) -> nn.Module:
        """A copy of ``model`` holding the mean weights (its integer buffers as they are)."""
        out = copy.deepcopy(model)
        load_weights(out, {**out.state_dict(), **self.mean}, "the averaged weights")
        return out


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, batches: Iterable[dict], forward: Any) -> int:
    """Recompute every BatchNorm's running mean and variance as the plain average over ``batches``
    (``forward(model, batch)`` runs the model in training mode); returns the batches used, 0 when the
    model has no BatchNorm (nothing is run)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return 0
    momenta = {m: m.momentum for m in norms}
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches, as torch.optim.swa_utils.update_bn
    was_training = model.training
    model.train()
    count = 0
    for batch in batches:
        forward(model, batch)
        count += 1
    for m in norms:
        m.momentum = momenta[m]
    model.train(was_training)
    return count
