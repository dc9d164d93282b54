"""Digits-DG from scikit-learn's digits: the embedded default for domain generalization, no download.

The 1,797 real 8x8 digits are dealt into four domains of about 450 (each image in exactly one, so no
digit is seen in two styles), upsampled to 32x32 RGB and restyled per domain:

- ``original``: white strokes on black;
- ``inverted``: black strokes on white;
- ``tinted``: bright strokes on a dark ground, each in a random colour, with Gaussian noise;
- ``thick_rotated``: strokes thickened (3x3 dilation) and the digit rotated by up to 45 degrees.

The styles and the dealing are drawn from a fixed seed, so the dataset is the same everywhere;
``data.split_seed`` and ``data.protocol`` choose the splits, as for Office-Home.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from ...config import AugConfig, DataConfig
from ..bundle import DataBundle
from ..families.domain_splits import domain_bundle, protocol_split
from ..families.per_image import tensor_bundle
from ..files.embedded import load_arrays

DOMAINS = ("original", "inverted", "tinted", "thick_rotated")
SIZE = 32
STYLE_SEED = 0


def restyle(x: torch.Tensor, domain: int, g: torch.Generator) -> torch.Tensor:
    """Float images [N, 3, H, W] in [0, 1] (white on black) in the style of ``DOMAINS[domain]``."""
    n = x.shape[0]
    if domain == 1:
        return 1 - x
    if domain == 2:
        stroke = 0.5 + 0.5 * torch.rand(n, 3, 1, 1, generator=g)  # bright strokes on a dark ground: still legible
        ground = 0.4 * torch.rand(n, 3, 1, 1, generator=g)
        noise = 0.1 * torch.randn(x.shape, generator=g)
        return (x * stroke + (1 - x) * ground + noise).clamp(0, 1)
    if domain == 3:
        thick = F.max_pool2d(x, 3, stride=1, padding=1)
        angle = (torch.rand(n, generator=g) * 2 - 1) * math.radians(45)
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros(n)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(thick, grid, align_corners=False)
    return x


def load_domains() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """uint8 images [1797, 3, 32, 32], class ids [1797] and domain ids [1797], all int64 labels."""
    images, targets = load_arrays()
    g = torch.Generator().manual_seed(STYLE_SEED)
    domains = torch.randperm(len(images), generator=g) % len(DOMAINS)
    x = F.interpolate(images.float().div(255), size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    x = x.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()
    for d in range(len(DOMAINS)):
        chosen = domains == d
        x[chosen] = restyle(x[chosen], d, g)
    return x.mul(255).round().to(torch.uint8), targets, domains


READS = ("protocol", "test_domain", "limit", "val_fraction", "test_fraction", "split_seed", "channels", "in_memory")  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    images, targets, domains = load_domains()
    parts = {k: torch.from_numpy(v) for k, v in protocol_split(cfg, targets.tolist(), domains.tolist(), DOMAINS).items()}
    splits = {k: (images[idx], targets[idx]) for k, idx in parts.items()}
    extras = {k: {"domain": domains[idx]} for k, idx in parts.items()}
    bundle = tensor_bundle(cfg, aug, splits, [str(i) for i in range(10)], extras)
    return domain_bundle(bundle, DOMAINS)


def status(root: Path) -> tuple[str, bool]:
    return "made from scikit-learn's bundled digits; nothing to download", True
