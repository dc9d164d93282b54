"""Models by name: ``build(cfg.model, info) -> nn.Module``. Input channels and classes follow the data.

Names in MODELS first (including torchvision's segmentation models); then the prefixed families
(``timm/<name>`` through timm, ``smp/<arch>/<encoder>`` through segmentation_models_pytorch), and
torchvision's classification models by their own names.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..config import ModelConfig
from ..data_info import DataInfo
from ..errors import VislabError
from ..reads import check_reads
from . import cnn, panoptic_deeplab, smp, timm_models, torchvision_models, tv_segmentation, unet

Builder = Callable[[ModelConfig, DataInfo], nn.Module]


@dataclass(frozen=True)
class Family:
    """A model family: its builder, the ``model.*`` keys it reads beyond those every family reads
    (``COMMON``; any other key set for it is refused, reads.check_reads), and whether its models take images
    of any size (False: a layer is sized for the data's images when built, so progressive resizing cannot work)."""

    build: Builder
    reads: tuple[str, ...]
    any_size: bool = True


# name, num_classes and in_channels size every model; mixstyle and domain_head belong to the
# domain-generalization wrapper (with_domains), and tasks.build refuses them for other tasks.
COMMON = ("name", "num_classes", "in_channels", "mixstyle", "domain_head")

MODELS: dict[str, Family] = {
    "cnn-mnist": Family(cnn.cnn_mnist, cnn.READS, any_size=False),
    "cnn-dg": Family(cnn.cnn_dg, cnn.READS, any_size=False),
    "unet": Family(unet.unet, unet.READS),
    "panoptic_deeplab": Family(panoptic_deeplab.panoptic_deeplab, panoptic_deeplab.READS),
    **{name: Family(tv_segmentation.torchvision_segmentation, tv_segmentation.READS) for name in tv_segmentation.SPECS},
}

# Models that take model.heads=panoptic (panoptic_deeplab has no other kind).
PANOPTIC_HEADS = ("unet", "panoptic_deeplab")

# Families named by a prefix and a free-form rest (the builder parses the name).
PREFIXES: dict[str, Family] = {
    smp.PREFIX: Family(smp.smp_model, smp.READS),
    timm_models.PREFIX: Family(timm_models.build, timm_models.READS),
}
TORCHVISION = Family(torchvision_models.build, torchvision_models.READS)


def known_names() -> list[str]:
    """Every model name accepted by ``model.name`` (prefixed families as ``prefix...``)."""
    return sorted({*MODELS, *torchvision_models.names()}) + [f"{p}..." for p in PREFIXES]


def family_of(name: str) -> Family | None:
    """The family of ``name``: the MODELS entry, a prefixed family's, torchvision's for its names."""
    if name in MODELS:
        return MODELS[name]
    for prefix, family in PREFIXES.items():
        if name.startswith(prefix):
            return family
    if name in torchvision_models.names():
        return TORCHVISION
    return None


def build(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    """The model named by ``cfg.name``, sized for ``info``; unknown names list the close ones, and a key the
    family does not read is refused. For domain-generalization data it answers with a dict (see
    models.domain_generalization). The module carries its contract (models.contract)."""
    family = family_of(cfg.name)
    if family is None:
        close = difflib.get_close_matches(cfg.name, known_names(), n=5, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"models are {', '.join(sorted(MODELS))}, torchvision's and timm/<name>"
        raise VislabError(f"unknown model model.name='{cfg.name}': {hint}")
    if cfg.heads == "panoptic" and cfg.name not in PANOPTIC_HEADS:
        raise VislabError(f"model.heads=panoptic: {cfg.name} has no center and offset heads; use {' or '.join(PANOPTIC_HEADS)}")
    check_reads(cfg, "model", COMMON + family.reads, f"model.name={cfg.name}")
    return family.build(cfg, info)
