"""The UNet family, one configurable module: from the 3-level 64-128-256 baseline to a 5-level residual
UNet with BatchNorm, dilated levels and an ASPP bottleneck."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..data_info import DataInfo
from ..errors import VislabError
from .aspp import ASPP, conv_norm_relu
from .common import model_channels, model_classes
from .contract import Contract, declare


class ConvBlock(nn.Module):
    """Two 3x3 convolutions, each with optional BatchNorm, and ReLU.

    ``residual``: the block's input is added before the last ReLU, through a 1x1 projection where the
    channels differ. Input [B, in_channels, H, W]; output [B, out_channels, H, W].
    """

    def __init__(self, in_channels: int, out_channels: int, *, dilation: int = 1, batchnorm: bool = True,
                 residual: bool = False) -> None:
        super().__init__()
        first = conv_norm_relu(in_channels, out_channels, 3, dilation, batchnorm)
        second = conv_norm_relu(out_channels, out_channels, 3, dilation, batchnorm)[:-1]
        self.body = nn.Sequential(*first, *second)
        self.shortcut = None
        if residual:
            self.shortcut = nn.Identity()
            if in_channels != out_channels:
                proj = [nn.Conv2d(in_channels, out_channels, 1, bias=not batchnorm)]
                self.shortcut = nn.Sequential(*proj, *([nn.BatchNorm2d(out_channels)] if batchnorm else []))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return F.relu(y if self.shortcut is None else y + self.shortcut(x))


class UNet(nn.Module):
    """Encoder levels of ``widths`` channels (max-pooled by 2 between levels), the deepest level being the
    bottleneck (``center``: a conv block or ASPP), then a decoder that resizes each deeper map bilinearly
    to its skip connection, concatenates and convolves. Output at the input size, whatever it is.

    ``dropout`` (Dropout2d) acts at the end of the contracting path, as in the original U-Net.
    Input float [B, in_channels, H, W]; output logits [B, num_classes, H, W]. With ``heads="panoptic"`` a
    second decoder, half as wide, feeds a center head and an offset head, and the output is
    ``{"out": logits, "center": [B,1,H,W], "offset": [B,2,H,W]}``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        widths: list[int],
        *,
        batchnorm: bool = True,
        residual: str = "none",
        dropout: float = 0.0,
        center: str = "conv",
        aspp_rates: list[int] | None = None,
        dilations: list[int] | None = None,
        heads: str = "semantic",
    ) -> None:
        super().__init__()
        dilations = dilations or [1] * len(widths)
        enc_res, dec_res = residual in ("encoder", "both"), residual in ("decoder", "both")
        ins = [in_channels, *widths[:-1]]
        self.encoder = nn.ModuleList(
            ConvBlock(i, w, dilation=d, batchnorm=batchnorm, residual=enc_res) for i, w, d in zip(ins[:-1], widths, dilations)
        )
        if center == "aspp":
            self.center: nn.Module = ASPP(ins[-1], widths[-1], aspp_rates or [6, 12, 18], batchnorm)
        else:
            self.center = ConvBlock(ins[-1], widths[-1], dilation=dilations[-1], batchnorm=batchnorm, residual=enc_res)
        self.dropout = nn.Dropout2d(dropout) if dropout else nn.Identity()
        def decoder(outs: list[int]) -> nn.ModuleList:
            ins = [*outs[1:-1], widths[-1]]  # each level takes the deeper level's output and its skip connection
            return nn.ModuleList(
                ConvBlock(ins[i] + widths[i], outs[i], batchnorm=batchnorm, residual=dec_res) for i in reversed(range(len(widths) - 1))
            )

        self.decoder = decoder(widths)
        self.head = nn.Conv2d(widths[0], num_classes, 1)
        self.instance_decoder = None
        if heads == "panoptic":  # half as wide, as Panoptic-DeepLab's instance decoder is
            half = [max(1, w // 2) for w in widths]
            self.instance_decoder = decoder(half)
            self.center_head = nn.Conv2d(half[0], 1, 1)
            self.offset_head = nn.Conv2d(half[0], 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.dropout(self.center(x))
        logits = self.head(decode(self.decoder, x, skips))
        if self.instance_decoder is None:
            return logits
        features = decode(self.instance_decoder, x, skips)
        return {"out": logits, "center": self.center_head(features), "offset": self.offset_head(features)}


def decode(decoder: nn.ModuleList, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
    """Up the decoder: each deeper map resized bilinearly to its skip connection, concatenated, convolved."""
    for block, skip in zip(decoder, reversed(skips)):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        x = block(torch.cat([x, skip], 1))
    return x


def unet_widths(cfg: ModelConfig) -> list[int]:
    """``model.widths``, or 64 doubling for the 3-level baseline, 32 doubling otherwise."""
    if cfg.widths is not None:
        return list(cfg.widths)
    base = 64 if cfg.depth == 3 else 32
    return [base * 2**i for i in range(cfg.depth)]


READS = ("depth", "widths", "batchnorm", "residual", "dropout", "center", "aspp_rates", "dilations", "heads")


def unet(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    """``model.name=unet`` from model.depth, widths, batchnorm, residual, dropout, center, aspp_rates, dilations."""
    if cfg.depth < 2:
        raise VislabError(f"model.depth={cfg.depth}: a UNet needs at least 2 levels")
    widths = unet_widths(cfg)
    for key, values in (("widths", widths), ("dilations", cfg.dilations)):
        if values is not None and len(values) != cfg.depth:
            raise VislabError(f"model.{key} has {len(values)} entries but model.depth={cfg.depth}; give one per level")
    model = UNet(
        model_channels(cfg, info),
        model_classes(cfg, info),
        widths,
        batchnorm=cfg.batchnorm,
        residual=cfg.residual,
        dropout=cfg.dropout or 0.0,
        center=cfg.center,
        aspp_rates=cfg.aspp_rates,
        dilations=cfg.dilations,
        heads=cfg.heads,
    )
    heads = {"out": "head", **({"center": "center_head", "offset": "offset_head"} if cfg.heads == "panoptic" else {})}
    return declare(model, Contract(heads, output_stride=2 ** (len(widths) - 1),  # max-pooled by 2 between levels
                                   cam_layer=f"decoder.{len(model.decoder) - 1}"))  # the semantic decoder's last, full-size maps
