"""Pretrained weights from a file (``model.weights``) and what adapting them to the data takes: the
input convolution summed or repeated to the data's channels, the classifier head left out when the
number of classes differs."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from ..errors import VislabError


def adapt_input_channels(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """A conv weight [O, 3, k, k] for ``channels`` inputs: summed over RGB for gray, else repeated and
    rescaled so the response to a uniform image keeps its size (timm's rule)."""
    if weight.shape[1] == channels:
        return weight
    if channels == 1:
        return weight.sum(1, keepdim=True)
    repeated = weight.repeat(1, math.ceil(channels / weight.shape[1]), 1, 1)[:, :channels]
    return repeated * (weight.shape[1] / channels)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a weights file: .safetensors, or a torch file holding a state dict (plain, or under
    "model"/"state_dict", as vislab checkpoints and many training scripts save them)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise VislabError(f"model.weights={path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # each format fails its own way; all mean "not a weights file"
        raise VislabError(f"model.weights={path} is not a readable weights file ({type(e).__name__}: {e})") from None
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise VislabError(f"model.weights={path} holds no state dict of tensors")
    return state


def load_pretrained_file(model: nn.Module, path: str | Path, head: str | tuple[str, ...], stem: str) -> None:
    """Load ``path`` into ``model``, adapting the input conv ``stem`` (a parameter name) to the model's
    channels and leaving out the classifier (the module(s) named by ``head``) when its shape differs. Any other mismatch
    means the file is for another architecture: bad input naming the first keys that differ."""
    state = read_state_dict(path)
    own = model.state_dict()
    unexpected = [k for k in state if k not in own]
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if stem in state and stem in own and state[stem].ndim == 4:
        state[stem] = adapt_input_channels(state[stem], own[stem].shape[1])
    mismatched = [k for k in state if k in own and state[k].shape != own[k].shape]
    heads = tuple(h + "." for h in ((head,) if isinstance(head, str) else head))
    wrong = [k for k in mismatched + missing if not k.startswith(heads)] + unexpected
    if wrong:
        raise VislabError(
            f"model.weights={path} does not fit this model ({len(wrong)} tensors differ, e.g. {', '.join(wrong[:3])}); "
            "is it for another architecture?"
        )
    model.load_state_dict({k: v for k, v in state.items() if k not in mismatched}, strict=False)
