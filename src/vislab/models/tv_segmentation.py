"""torchvision's segmentation models: DeepLabV3 (ResNet-50/101), FCN (ResNet-50), LR-ASPP (MobileNetV3-Large).

``model.pretrained`` starts from the full COCO (VOC labels) weights, the classifier re-made when the data has
another number of classes; the auxiliary head is on with pretrained weights unless ``model.aux_loss`` says.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn
from torchvision.models import segmentation as tvseg

from ..config import ModelConfig
from ..data_info import DataInfo
from ..errors import VislabError
from .common import adapt_first_conv, model_channels, model_classes, replace_module
from .contract import Contract, declare

# name -> (builder, weights enum, output stride, has an auxiliary head)
SPECS: dict[str, tuple[Callable[..., nn.Module], Any, int, bool]] = {
    "deeplabv3_resnet50": (tvseg.deeplabv3_resnet50, tvseg.DeepLabV3_ResNet50_Weights, 8, True),
    "deeplabv3_resnet101": (tvseg.deeplabv3_resnet101, tvseg.DeepLabV3_ResNet101_Weights, 8, True),
    "fcn_resnet50": (tvseg.fcn_resnet50, tvseg.FCN_ResNet50_Weights, 8, True),
    "lraspp_mobilenet_v3_large": (tvseg.lraspp_mobilenet_v3_large, tvseg.LRASPP_MobileNet_V3_Large_Weights, 16, False),
}


def pretrained_state(name: str, weights: Any, path: Optional[str]) -> dict[str, torch.Tensor]:
    """The weights file's state dict: ``model.weights`` when set, else torchvision's file (downloaded into
    torch's hub cache when absent); offline and absent is bad input naming the file and where it goes."""
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_file():
            raise VislabError(f"model.weights={file} does not exist")
        return torch.load(file, map_location="cpu", weights_only=True)
    file = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except (urllib.error.URLError, OSError, RuntimeError) as e:
        reason = getattr(e, "reason", None) or str(e).splitlines()[0]
        raise VislabError(
            f"pretrained weights for model.name={name} are not on disk and could not be downloaded ({reason}); "
            f"get {weights.url} and put it at {file}, or set model.weights=PATH, or model.pretrained=false"
        ) from None


def replace_classifier(model: nn.Module, old: int, new: int) -> None:
    """Re-make the 1x1 convolutions that output ``old`` classes (main and auxiliary heads) for ``new`` classes."""
    for head in ("classifier", "aux_classifier"):
        module = getattr(model, head, None)
        if module is None:
            continue
        for name, conv in list(module.named_modules()):
            if isinstance(conv, nn.Conv2d) and conv.out_channels == old and conv.kernel_size == (1, 1):
                replace_module(module, name, nn.Conv2d(conv.in_channels, new, 1))


READS = ("pretrained", "weights", "aux_loss")  # model.* keys torchvision_segmentation reads


def torchvision_segmentation(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    """``model.name`` among SPECS, for the data's channels and classes. Returns torchvision's module, whose
    forward gives ``{"out": [B,K,H,W][, "aux": ...]}``, with its contract."""
    builder, weights_enum, stride, has_aux = SPECS[cfg.name]
    classes = model_classes(cfg, info)
    pretrained = cfg.pretrained or cfg.weights is not None
    aux = has_aux and (cfg.aux_loss if cfg.aux_loss is not None else pretrained)
    aux_kwargs = lambda on: {"aux_loss": on} if has_aux else {}  # noqa: E731 - lraspp takes no aux_loss
    if pretrained:
        weights = weights_enum.DEFAULT
        state = pretrained_state(cfg.name, weights, cfg.weights)
        file_aux = any(k.startswith("aux_classifier.") for k in state)
        model = builder(weights=None, weights_backbone=None, num_classes=len(weights.meta["categories"]), **aux_kwargs(file_aux))
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise VislabError(f"model.weights does not fit {cfg.name}: {str(e).splitlines()[0][:200]}") from None
        if file_aux and not aux:
            model.aux_classifier = None
        elif aux and not file_aux:
            model.aux_classifier = builder(weights=None, weights_backbone=None, num_classes=len(weights.meta["categories"]), aux_loss=True).aux_classifier
        replace_classifier(model, len(weights.meta["categories"]), classes)
    else:
        model = builder(weights=None, weights_backbone=None, num_classes=classes, **aux_kwargs(aux))
    adapt_first_conv(model, model_channels(cfg, info))
    heads = {"out": "classifier", **({"aux": "aux_classifier"} if getattr(model, "aux_classifier", None) is not None else {})}
    last_stage = list(model.backbone.named_children())[-1][0]  # layer4 of the ResNets, the last block of MobileNet
    return declare(model, Contract(heads, stride, ("backbone",), cam_layer=f"backbone.{last_stage}"))
