"""The strong view of consistency training, made per batch on the device from the weak view.

Classification (FixMatch's RandAugment): every sample draws ``ops`` operations from the pool below, each
with its own magnitude uniform over the operation's range (FixMatch's variant of RandAugment, which
samples the magnitude instead of fixing it), then a Cutout square of side up to ``cutout`` of the image
filled with gray. Segmentation (UniMatch's strong view) keeps the geometry, so pseudo-labels stay aligned:
only the photometric operations, then CutMix between images (``schemes/cutmix.py``).

Images are float [B, C, H, W] in [0, 1] (the normalization undone and redone around the ops); all
randomness comes from the generator passed in, so a batch's strong view follows from (seed, epoch, step).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from ..data.augment.per_batch import blend, grayscale, integers, uniform

Op = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (images [n,C,H,W], magnitude [n] in [0, 1]) -> images
GRAY = 0.5  # fill of Cutout and of the corners uncovered by geometric ops (FixMatch fills with 128)


def _signed(m: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return torch.where(torch.rand(m.shape, generator=g, device=g.device) < 0.5, -m, m)


def autocontrast(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    low, high = x.amin((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)
    return torch.where(high > low, (x - low) / (high - low).clamp_min(1e-6), x)


def equalize(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    from torchvision.transforms.v2.functional import equalize as tv_equalize

    return tv_equalize((x * 255).round().to(torch.uint8)).float() / 255


def posterize(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    levels = (2 ** (8 - (m * 4).floor())).view(-1, 1, 1, 1)  # keep 8 down to 4 bits
    return ((x * 255).floor() / levels).floor() * levels / 255


def solarize(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    threshold = (1 - m).view(-1, 1, 1, 1)  # magnitude 0: nothing inverted
    return torch.where(x >= threshold, 1 - x, x)


def _smoothed(x: torch.Tensor) -> torch.Tensor:
    kernel = torch.tensor([[1.0, 1, 1], [1, 5, 1], [1, 1, 1]], device=x.device, dtype=x.dtype) / 13  # PIL's SMOOTH
    c = x.shape[1]
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel.expand(c, 1, 3, 3), groups=c)


class Photometric:
    """Brightness, contrast, saturation (colour only) and sharpness: a blend with a reference image by a
    factor 1 +- 0.9 * magnitude, as torchvision's RandAugment ranges them."""

    def __init__(self, kind: str, g: torch.Generator) -> None:
        self.kind, self.g = kind, g

    def __call__(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        factor = 1 + 0.9 * _signed(m, self.g)
        if self.kind == "brightness":
            return blend(x, torch.zeros_like(x), factor)
        if self.kind == "contrast":
            return blend(x, grayscale(x).mean((1, 2, 3), keepdim=True).expand_as(x), factor)
        if self.kind == "saturation":
            return blend(x, grayscale(x).expand_as(x), factor) if x.shape[1] == 3 else x
        return blend(x, _smoothed(x), factor)


class Affine:
    """Rotation (up to 30 degrees), shear (up to 0.3) or translation (up to 30% of the side), one axis each,
    by an affine grid; uncovered corners filled with gray."""

    def __init__(self, kind: str, g: torch.Generator) -> None:
        self.kind, self.g = kind, g

    def __call__(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        n, _, H, W = x.shape
        v = _signed(m, self.g)
        theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0] = theta[:, 1, 1] = 1
        if self.kind == "rotate":
            a = v * (30 * math.pi / 180)
            theta[:, 0, 0], theta[:, 0, 1] = a.cos(), -a.sin() * H / W
            theta[:, 1, 0], theta[:, 1, 1] = a.sin() * W / H, a.cos()
        elif self.kind == "shear_x":
            theta[:, 0, 1] = 0.3 * v * H / W
        elif self.kind == "shear_y":
            theta[:, 1, 0] = 0.3 * v * W / H
        elif self.kind == "translate_x":
            theta[:, 0, 2] = 0.3 * v * 2  # affine_grid coordinates span 2 per side
        else:
            theta[:, 1, 2] = 0.3 * v * 2
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        inside = F.grid_sample(torch.ones_like(x[:, :1]), grid, mode="nearest", align_corners=False)
        moved = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return moved + GRAY * (1 - inside)


def operations(g: torch.Generator, geometric: bool) -> list[Op]:
    """The RandAugment pool (identity included); ``geometric=False`` keeps the photometric ones only."""
    pool: list[Op] = [lambda x, m: x, autocontrast, equalize, posterize, solarize]
    pool += [Photometric(k, g) for k in ("brightness", "contrast", "saturation", "sharpness")]
    if geometric:
        pool += [Affine(k, g) for k in ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")]
    return pool


def cutout(x: torch.Tensor, largest: float, g: torch.Generator) -> torch.Tensor:
    """A gray square per sample, side uniform in [0, largest * min(H, W)], centred anywhere (clipped)."""
    n, _, H, W = x.shape
    side = uniform(g, n, 0.0, largest) * min(H, W)
    cy, cx = uniform(g, n, 0.0, H), uniform(g, n, 0.0, W)
    rows = torch.arange(H, device=x.device, dtype=x.dtype)[None] + 0.5
    cols = torch.arange(W, device=x.device, dtype=x.dtype)[None] + 0.5
    in_rows = (rows - cy[:, None]).abs() <= side[:, None] / 2
    in_cols = (cols - cx[:, None]).abs() <= side[:, None] / 2
    box = in_rows[:, :, None] & in_cols[:, None, :]
    return x.masked_fill(box[:, None], GRAY)


def rand_augment(x: torch.Tensor, g: torch.Generator, ops: int, cutout_share: float, geometric: bool = True) -> torch.Tensor:
    """The strong view of images ``x`` float [B, C, H, W] in [0, 1]: ``ops`` random operations per sample,
    then Cutout (when ``cutout_share`` > 0). Same shape out, in [0, 1]."""
    pool = operations(g, geometric)
    x = x.clone()
    for _ in range(ops):
        choice = integers(g, x.shape[0], len(pool))
        magnitude = uniform(g, x.shape[0], 0.0, 1.0)
        for k, op in enumerate(pool[1:], start=1):
            rows = (choice == k).nonzero().flatten()
            if len(rows):
                x[rows] = op(x[rows], magnitude[rows]).clamp(0, 1)
    return cutout(x, cutout_share, g) if cutout_share > 0 else x


def strong_view(
    image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, g: torch.Generator, ops: int, cutout_share: float,
    geometric: bool = True,
) -> torch.Tensor:
    """``rand_augment`` of normalized images [B, C, H, W] (mean/std [1, C, 1, 1]): undone, augmented,
    normalized again."""
    raw = (image * std + mean).clamp(0, 1)
    return (rand_augment(raw, g, ops, cutout_share, geometric) - mean) / std
