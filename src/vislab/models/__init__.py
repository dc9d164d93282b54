"""Models by name: ``build(cfg.model, info) -> nn.Module``. Input channels and classes follow the data."""

from __future__ import annotations

import difflib
from typing import Callable

from torch import nn

from ..config import ModelConfig
from ..data.bundle import DataInfo
from ..errors import VislabError
from . import cnn, smp, tv_segmentation, unet

Builder = Callable[[ModelConfig, DataInfo], nn.Module]

MODELS: dict[str, Builder] = {
    "cnn-mnist": cnn.cnn_mnist,
    "unet": unet.unet,
    **{name: tv_segmentation.torchvision_segmentation for name in tv_segmentation.SPECS},
}

# Families named by a prefix and a free-form rest (the builder parses the name).
PREFIXES: dict[str, Builder] = {
    smp.PREFIX: smp.smp_model,
}


def known_names() -> list[str]:
    """Every model name accepted by ``model.name``."""
    return sorted(MODELS) + [f"{p}..." for p in PREFIXES]


def build(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    """The model named by ``cfg.name``, sized for ``info``; unknown names list the close ones."""
    builder = MODELS.get(cfg.name) or next((b for p, b in PREFIXES.items() if cfg.name.startswith(p)), None)
    if builder is None:
        close = difflib.get_close_matches(cfg.name, known_names(), n=5, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"models are {', '.join(known_names())}"
        raise VislabError(f"unknown model model.name='{cfg.name}': {hint}")
    return builder(cfg, info)
