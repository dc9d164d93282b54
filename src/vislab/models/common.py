"""What every model builder needs: its input channels and classes, from the config or the data."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..data_info import DataInfo


def model_channels(cfg: ModelConfig, info: DataInfo) -> int:
    return cfg.in_channels or info.channels


def model_classes(cfg: ModelConfig, info: DataInfo) -> int:
    return cfg.num_classes or info.num_classes


def adapt_first_conv(model: nn.Module, in_channels: int) -> None:
    """Make the model's first convolution take ``in_channels``; learned RGB filters are averaged over
    their input channels (and rescaled), so pretrained weights still help on grayscale or extra channels."""
    name, conv = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    if conv.in_channels == in_channels:
        return
    new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    conv.groups, conv.bias is not None)
    with torch.no_grad():
        new.weight.copy_(conv.weight.mean(1, keepdim=True).expand_as(new.weight) * (conv.in_channels / in_channels))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    replace_module(model, name, new)


def replace_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` where the dotted ``name`` points inside ``model``."""
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)
