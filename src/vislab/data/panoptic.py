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
    center [S, 2] (y, x) as float)."""
    B, H, W = target.shape
    thing = thing_pixels(target, instance, things)
    key = torch.arange(B, device=target.device).view(B, 1, 1) * (int(instance.max()) + 1) + instance.long()
    ids, inverse = torch.unique(torch.where(thing, key, -1), return_inverse=True)
    has_none = bool(ids.numel()) and int(ids[0]) < 0  # -1 (no instance) sorts first when present
    segment = inverse - int(has_none)
    n = ids.numel() - int(has_none)
    ys, xs = torch.meshgrid(torch.arange(H, device=target.device), torch.arange(W, device=target.device), indexing="ij")
    sel = segment[thing]
    count = torch.zeros(n, device=target.device).index_add_(0, sel, torch.ones_like(sel, dtype=torch.float32))
    center = torch.stack([
        torch.zeros(n, device=target.device).index_add_(0, sel, ys.expand(B, H, W)[thing].float()),
        torch.zeros(n, device=target.device).index_add_(0, sel, xs.expand(B, H, W)[thing].float()),
    ], 1) / count.clamp_min(1)[:, None]
    image = torch.div(ids[int(has_none):], int(instance.max()) + 1, rounding_mode="floor")
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
