"""Atrous spatial pyramid pooling (DeepLabV3), a block any segmentation model can put at its bottleneck."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_norm_relu(in_channels: int, out_channels: int, kernel: int = 3, dilation: int = 1, batchnorm: bool = True) -> list[nn.Module]:
    """A convolution (padding keeps the size), optional BatchNorm, ReLU."""
    pad = dilation * (kernel // 2)
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, padding=pad, dilation=dilation, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU(inplace=True))
    return layers


class ASPP(nn.Module):
    """Parallel 1x1 and dilated 3x3 convolutions at ``rates`` plus global image pooling, concatenated
    and projected by a 1x1 convolution.

    Input float [B, in_channels, H, W]; output [B, out_channels, H, W].
    """

    def __init__(self, in_channels: int, out_channels: int, rates: list[int], batchnorm: bool = True) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [nn.Sequential(*conv_norm_relu(in_channels, out_channels, 1, batchnorm=batchnorm))]
            + [nn.Sequential(*conv_norm_relu(in_channels, out_channels, 3, r, batchnorm)) for r in rates]
        )
        # No BatchNorm on the pooled 1x1 map: it would fail on a batch of one.
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, out_channels, 1), nn.ReLU(inplace=True))
        self.project = nn.Sequential(*conv_norm_relu(out_channels * (len(rates) + 2), out_channels, 1, batchnorm=batchnorm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.project(torch.cat([b(x) for b in self.branches] + [pooled], 1))
