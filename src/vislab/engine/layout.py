"""The memory layout a run trains in (``train.channels_last``), for its model and every batch of images it
sees: training, evaluation and prediction use one rule, so a model restored in channels_last never gets a
contiguous batch (each convolution would convert it)."""

from __future__ import annotations

import torch
from torch import nn

from ..config.schema import TrainConfig


def model_in_layout(model: nn.Module, train: TrainConfig) -> nn.Module:
    """``model`` in the run's layout (unchanged where it is the default one)."""
    return model.to(memory_format=torch.channels_last) if train.channels_last else model


def images_in_layout(images: torch.Tensor, train: TrainConfig) -> torch.Tensor:
    """A batch of images [B, C, H, W] in the run's layout (unchanged where it is the default one)."""
    return images.contiguous(memory_format=torch.channels_last) if train.channels_last else images
