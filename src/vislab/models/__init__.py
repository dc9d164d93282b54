"""Models by name: ``build(cfg.model, info) -> nn.Module``. Input channels and classes follow the data.

Names in MODELS first (including torchvision's segmentation models); then the prefixed families
(``timm/<name>`` through timm, ``smp/<arch>/<encoder>`` through segmentation_models_pytorch), and
torchvision's classification models by their own names.
"""

from __future__ import annotations

import difflib
from typing import Callable

from torch import nn

from ..config import ModelConfig
from ..data.bundle import DataInfo
from ..errors import VislabError
from . import cnn, panoptic_deeplab, smp, timm_models, torchvision_models, tv_segmentation, unet

Builder = Callable[[ModelConfig, DataInfo], nn.Module]

MODELS: dict[str, Builder] = {
    "cnn-mnist": cnn.cnn_mnist,
    "cnn-dg": cnn.cnn_dg,
    "unet": unet.unet,
    "panoptic_deeplab": panoptic_deeplab.panoptic_deeplab,
    **{name: tv_segmentation.torchvision_segmentation for name in tv_segmentation.SPECS},
}

# Models that take model.heads=panoptic (panoptic_deeplab has no other kind).
PANOPTIC_HEADS = ("unet", "panoptic_deeplab")

# Families named by a prefix and a free-form rest (the builder parses the name).
PREFIXES: dict[str, Builder] = {
    smp.PREFIX: smp.smp_model,
    timm_models.PREFIX: timm_models.build,
}


def known_names() -> list[str]:
    """Every model name accepted by ``model.name`` (prefixed families as ``prefix...``)."""
    return sorted({*MODELS, *torchvision_models.names()}) + [f"{p}..." for p in PREFIXES]


def builder_for(name: str) -> Builder | None:
    """The builder for ``name``: the MODELS entry, a prefixed family's, torchvision's for its names."""
    if name in MODELS:
        return MODELS[name]
    for prefix, builder in PREFIXES.items():
        if name.startswith(prefix):
            return builder
    if name in torchvision_models.names():
        return torchvision_models.build
    return None


def build(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    """The model named by ``cfg.name``, sized for ``info``; unknown names list the close ones. The
    domain-generalization task wraps it (see models.domain_generalization)."""
    builder = builder_for(cfg.name)
    if builder is None:
        close = difflib.get_close_matches(cfg.name, known_names(), n=5, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"models are {', '.join(sorted(MODELS))}, torchvision's and timm/<name>"
        raise VislabError(f"unknown model model.name='{cfg.name}': {hint}")
    if cfg.heads == "panoptic" and cfg.name not in PANOPTIC_HEADS:
        raise VislabError(f"model.heads=panoptic: {cfg.name} has no center and offset heads; use {' or '.join(PANOPTIC_HEADS)}")
    return builder(cfg, info)
