"""CutMix consistency for segmentation (French et al. 2020; UniMatch's form): a box of each unlabeled image's
strong view is replaced by the same box of its partner's (the next image in the batch), and so are the
pseudo-labels, their confidence mask and the valid-pixel mask, so the student is taught, pixel by pixel,
what the teacher said about the pixel it now sees.
"""

from __future__ import annotations

import math

import torch

from ..data.augment.per_batch import coin, random_boxes
from .losses import PseudoLabels

AREA = (0.02, 0.4)  # UniMatch's obtain_cutmix_box: box area as a share of the image
LOG_RATIO = (math.log(0.3), math.log(1 / 0.3))


def cutmix_boxes(batch: int, height: int, width: int, g: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """bool [B, H, W]: one box per sample (with probability ``p``, else empty), area and aspect ratio drawn
    as UniMatch draws them."""
    return random_boxes(g, batch, height, width, AREA, LOG_RATIO) & coin(g, batch, p)[:, None, None]


def from_partner(x: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """``x`` [B, ...spatial] or [B, C, H, W] with the pixels inside ``box`` [B, H, W] taken from the next
    sample of the batch (the last from the first)."""
    partner = x.roll(-1, dims=0)
    mask = box[:, None] if x.ndim == box.ndim + 1 else box
    return torch.where(mask, partner, x)


def mixed_labels(pseudo: PseudoLabels, valid: torch.Tensor, box: torch.Tensor) -> tuple[PseudoLabels, torch.Tensor]:
    """Pseudo-labels and the valid-pixel mask [B, H, W] mixed as ``from_partner(images, box)`` mixed the
    strong images they belong to."""
    return PseudoLabels(*(from_partner(t, box) for t in pseudo)), from_partner(valid, box)
