"""Panoptic-DeepLab (Cheng et al., 2020): a torchvision ResNet backbone (ResNet-50 or -101, its last stage
dilated to output stride 16), a semantic decoder and head, and an instance decoder with a center heatmap
head and an offset head. Each decoder is ASPP on the last stage, then two fusions with the stride-8 and
stride-4 features; the heads work at stride 4 and their maps are resized to the input.

``model.pretrained`` starts the backbone from torchvision's ImageNet weights (downloaded into torch's hub
cache when absent; offline and absent is bad input naming the file); ``model.weights`` loads a ResNet
state-dict file instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter

from ..config import ModelConfig
from ..data_info import DataInfo
from ..errors import VislabError
from .aspp import ASPP, conv_norm_relu
from .common import adapt_first_conv, model_channels, model_classes
from .contract import Contract, declare
from .tv_segmentation import pretrained_state

BACKBONES = {"resnet50": torchvision.models.ResNet50_Weights, "resnet101": torchvision.models.ResNet101_Weights}
ASPP_RATES = [6, 12, 18]  # at output stride 16, as Panoptic-DeepLab


class Decoder(nn.Module):
    """ASPP on the stride-16 features, then for the stride-8 and stride-4 features in turn: project them
    (1x1) to ``low[i]`` channels, upsample the running map to their size, concatenate and fuse (3x3).

    Input: {"res2": [B,256,H/4,W/4], "res3": [B,512,H/8,W/8], "res5": [B,2048,H/16,W/16]};
    output [B, channels, H/4, W/4].
    """

    def __init__(self, channels: int, low: tuple[int, int]) -> None:
        super().__init__()
        self.aspp = ASPP(2048, 256, ASPP_RATES)
        self.project = nn.ModuleList(nn.Sequential(*conv_norm_relu(c, n, 1)) for c, n in zip((512, 256), low))
        self.fuse = nn.ModuleList(
            nn.Sequential(*conv_norm_relu(i + n, channels, 3)) for i, n in zip((256, channels), low)
        )

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.aspp(features["res5"])
        for key, project, fuse in zip(("res3", "res2"), self.project, self.fuse):
            skip = project(features[key])
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = fuse(torch.cat([x, skip], 1))
        return x


def head(in_channels: int, mid: int, out: int) -> nn.Sequential:
    """A 3x3 convolution block then a 1x1 prediction layer."""
    return nn.Sequential(*conv_norm_relu(in_channels, mid, 3), nn.Conv2d(mid, out, 1))


class PanopticDeepLab(nn.Module):
    """Input float [B, C, H, W]; output {"out": logits [B,K,H,W], "center": [B,1,H,W], "offset": [B,2,H,W]}."""

    def __init__(self, resnet: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.backbone = IntermediateLayerGetter(resnet, {"layer1": "res2", "layer2": "res3", "layer4": "res5"})
        self.semantic_decoder = Decoder(256, (64, 32))
        self.instance_decoder = Decoder(128, (32, 16))
        self.semantic_head = head(256, 256, num_classes)
        self.center_head = head(128, 32, 1)
        self.offset_head = head(128, 32, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        size = x.shape[-2:]
        features = self.backbone(x)
        semantic, instance = self.semantic_decoder(features), self.instance_decoder(features)
        up = lambda y: F.interpolate(y, size=size, mode="bilinear", align_corners=False)  # noqa: E731
        return {"out": up(self.semantic_head(semantic)), "center": up(self.center_head(instance)),
                "offset": up(self.offset_head(instance))}


READS = ("pretrained", "weights", "backbone", "heads")  # heads: always panoptic


def panoptic_deeplab(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    """``model.name=panoptic_deeplab`` on ``model.backbone`` (resnet50 or resnet101)."""
    weights = BACKBONES.get(cfg.backbone)
    if weights is None:
        raise VislabError(f"model.backbone={cfg.backbone}: panoptic_deeplab takes {' or '.join(BACKBONES)}")
    pretrained = cfg.pretrained or cfg.weights is not None
    state = pretrained_state(f"panoptic_deeplab ({cfg.backbone})", weights.DEFAULT, cfg.weights) if pretrained else None
    resnet = torchvision.models.get_model(cfg.backbone, weights=None, replace_stride_with_dilation=[False, False, True])
    if state is not None:
        try:
            resnet.load_state_dict(state)
        except RuntimeError as e:
            raise VislabError(f"model.weights does not fit {cfg.backbone}: {str(e).splitlines()[0][:200]}") from None
    model = PanopticDeepLab(resnet, model_classes(cfg, info))
    adapt_first_conv(model, model_channels(cfg, info))
    heads = {"out": "semantic_head", "center": "center_head", "offset": "offset_head"}
    return declare(model, Contract(heads, output_stride=16, backbone=("backbone",),  # layer4 dilated
                                   cam_layer="semantic_decoder"))
