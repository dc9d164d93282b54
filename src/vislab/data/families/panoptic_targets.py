"""Panoptic ground truth from a batch's class and instance maps, after their joint augmentation.

A thing pixel is one whose class is a thing class and whose instance id is not 0; an instance is the
thing pixels of one image sharing an id. Its center is their center of mass. Everything here works on
whole batches on their device, so it costs the same whichever kind of split (in memory or per sample)
produced the batch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class PanopticTargets(NamedTuple):
    """center float [B,1,H,W] in [0, 1]; offset float [B,2,H,W] (dy, dx) from each pixel to its instance's
    center; center_weight [B,1,H,W] (0 on ignored pixels); offset_weight [B,1,H,W] (1 on thing pixels)."""

    center: torch.Tensor
    offset: torch.Tensor
    center_weight: torch.Tensor
    offset_weight: torch.Tensor


def thing_pixels(target: torch.Tensor, instance: torch.Tensor, things: torch.Tensor) -> torch.Tensor:
    """bool [B,H,W]: pixels of a thing class (ignored pixels never are) that carry an instance id."""
    return torch.isin(target, things.to(target.device)) & (instance != 0)


def instance_segments(target: torch.Tensor, instance: torch.Tensor, things: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Number the instances of a batch: (segment [B,H,W], -1 off things; image of each segment [S];
    center [S, 2] (y, x) as float). An instance is keyed by (image, class, id): COCO and Cityscapes number
    instances per class, so one id can name objects of two classes."""
    B, H, W = target.shape
    device = target.device
    thing = thing_pixels(target, instance, things)
    ids_per_class, classes = int(instance.max()) + 1, int(target[thing].max()) + 1 if bool(thing.any()) else 1
    per_image = classes * ids_per_class
    key = torch.arange(B, device=device).view(B, 1, 1) * per_image + target.long() * ids_per_class + instance.long()
    ids, inverse = torch.unique(torch.where(thing, key, -1), return_inverse=True)
    has_none = bool(ids.numel()) and int(ids[0]) < 0  # -1 (no instance) sorts first when present
    segment = inverse - int(has_none)
    n = ids.numel() - int(has_none)
    ys, xs = torch.meshgrid(torch.arange(H, device=device), torch.arange(W, device=device), indexing="ij")
    sel = segment[thing]
    # summed as integers: in float32 the coordinate sums of a 100,000-pixel instance lose their last bits,
    # moving its centre by a tenth of a pixel and its heatmap peak by a whole one (float64 would do, but not on MPS)
    total = lambda v: torch.zeros(n, dtype=torch.long, device=device).index_add_(0, sel, v)  # noqa: E731
    count = total(torch.ones_like(sel)).clamp_min(1)[:, None]
    sums = torch.stack([total(ys.expand(B, H, W)[thing]), total(xs.expand(B, H, W)[thing])], 1)
    whole = torch.div(sums, count, rounding_mode="floor")
    center = whole.float() + (sums - whole * count).float() / count.float()  # the fraction from a small remainder
    image = torch.div(ids[int(has_none):], per_image, rounding_mode="floor")
    return segment, image, center


def panoptic_targets(target: torch.Tensor, instance: torch.Tensor, things: torch.Tensor, sigma: float,
                     ignore_index: int) -> PanopticTargets:
    """Targets for the center and offset heads from class ids [B,H,W] and instance ids [B,H,W]: a 2-D
    Gaussian of ``sigma`` pixels (peak 1) at each instance's center of mass, the heatmap being their
    maximum; for each thing pixel, the vector to its instance's center."""
    B, H, W = target.shape
    device = target.device
    segment, image, center = instance_segments(target, instance, things)
    thing = segment >= 0
    heat = torch.zeros(B, H, W, device=device)
    offset = torch.zeros(B, 2, H, W, device=device)
    if len(center):
        # peaks on whole pixels, as Panoptic-DeepLab draws them: max-pool NMS then finds one center, not a plateau
        peak = center.round()
        gy = torch.exp(-((torch.arange(H, device=device)[None] - peak[:, :1]) ** 2) / (2 * sigma**2))  # [S, H]
        gx = torch.exp(-((torch.arange(W, device=device)[None] - peak[:, 1:]) ** 2) / (2 * sigma**2))  # [S, W]
        g = (gy[:, :, None] * gx[:, None, :]).view(len(peak), H * W)
        heat.view(B, H * W).scatter_reduce_(0, image[:, None].expand_as(g), g, "amax")
        ys, xs = torch.meshgrid(torch.arange(H, device=device), torch.arange(W, device=device), indexing="ij")
        to_center = center[segment.clamp_min(0)] - torch.stack([ys, xs], -1).float()  # [B, H, W, 2]
        offset = torch.where(thing[..., None], to_center, 0.0).permute(0, 3, 1, 2)
    return PanopticTargets(
        center=heat[:, None],
        offset=offset.contiguous(),
        center_weight=(target != ignore_index).float()[:, None],
        offset_weight=thing.float()[:, None],
    )
