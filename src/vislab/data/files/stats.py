"""Per-channel statistics of images, in [0, 1] units: computed from a split, or ImageNet's for the
segmentation sets whose models start from ImageNet weights."""

from __future__ import annotations

import torch

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images [N,C,H,W], in [0, 1] units."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for chunk in images.split(4096):  # float copies of a chunk only: CIFAR-size sets stay small in memory
        x = chunk.double().div_(255).transpose(0, 1).reshape(images.shape[1], -1)
        total += x.sum(1)
        squares += x.square().sum(1)
    return stats_from_moments(total, squares, images.numel() // max(1, images.shape[1]))


def stats_from_moments(total: torch.Tensor, squares: torch.Tensor, count: int) -> tuple[list[float], list[float]]:
    """Mean and std per channel from the sums [C] and sums of squares [C] of ``count`` values each."""
    mean = total / max(count, 1)
    var = (squares / max(count, 1) - mean.square()).clamp_min(0)
    return mean.tolist(), var.sqrt().clamp_min(1e-6).tolist()


def stats_from_sums(sums: list[tuple[torch.Tensor, torch.Tensor, int]], channels: int) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] units from per-image (sums, sums of squares, pixels)."""
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros_like(total)
    count = 0
    for s, sq, n in sums:
        total += s  # a gray image's one channel counts for each of R, G and B (it is repeated)
        squares += sq
        count += n
    return stats_from_moments(total, squares, count)
