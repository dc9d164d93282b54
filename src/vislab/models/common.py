"""What every model builder needs: its input channels and classes, from the config or the data."""

from __future__ import annotations

from ..config import ModelConfig
from ..data.bundle import DataInfo


def model_channels(cfg: ModelConfig, info: DataInfo) -> int:
    return cfg.in_channels or info.channels


def model_classes(cfg: ModelConfig, info: DataInfo) -> int:
    return cfg.num_classes or info.num_classes
