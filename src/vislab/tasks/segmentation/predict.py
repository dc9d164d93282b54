"""Helpers of prediction on image files: maps resized to the image, unique output names."""

from __future__ import annotations

import torch
import torch.nn.functional as F



def resized(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Maps [B, K, h, w] bilinearly at ``size``, unchanged when already there."""
    return maps if tuple(maps.shape[-2:]) == size else F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def unique_stem(stem: str, used: set[str]) -> str:
    name, n = stem, 1
    while name in used:
        n += 1
        name = f"{stem}-{n}"
    used.add(name)
    return name
