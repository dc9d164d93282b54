"""Model weights: the user's module inside the wrappers, and loading a state dict that must fit."""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from ..errors import VislabError


def unwrap(model: nn.Module) -> nn.Module:
    """The user's module inside Fabric's and torch.compile's wrappers."""
    inner = getattr(model, "module", model) if type(model).__name__ == "_FabricModule" else model
    return getattr(inner, "_orig_mod", inner)


def load_weights(model: nn.Module, weights: Any, source: str) -> None:
    """Load a state dict, naming what does not match (another architecture, other class count)."""
    problem = weights_mismatch(model.state_dict(), weights)
    if problem:
        raise VislabError(f"{source} does not fit this model: {problem}")
    model.load_state_dict(weights)


def weights_mismatch(expected: dict[str, torch.Tensor], weights: Any) -> Optional[str]:
    """None when ``weights`` has exactly ``expected``'s keys and shapes, else the first differences."""
    if not isinstance(weights, dict) or not all(torch.is_tensor(v) for v in weights.values()):
        return "it holds no state dict of tensors"

    def first(names: list[str], n: int = 3) -> str:
        return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")

    shapes = [
        f"{k} is {list(weights[k].shape)} there, {list(v.shape)} here"
        for k, v in expected.items() if k in weights and weights[k].shape != v.shape
    ]
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    parts = [first(shapes, 2)] if shapes else []
    parts += [f"missing {first(missing)}"] if missing else []
    parts += [f"unexpected {first(unexpected)}"] if unexpected else []
    return "; ".join(parts) or None
