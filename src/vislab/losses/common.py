"""What every segmentation loss shares: the pixels that take part, flattened, and the binary logit."""

from __future__ import annotations

import torch


def valid_pixels(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits [N, K] as float32, targets [N]) of the N pixels whose target is not ``ignore_index``, from
    logits [B, K, H, W] and targets [B, H, W]. Ignored pixels are dropped, not zeroed: a zeroed pixel would
    still count as a (wrong) member of class 0 in a Dice or Tversky denominator, smp's bug."""
    keep = (target != ignore_index).flatten()
    flat = logits.float().movedim(1, -1).reshape(-1, logits.shape[1])
    return flat[keep], target.flatten()[keep].long()


def binary_logit(logits: torch.Tensor) -> torch.Tensor:
    """The foreground logit [B, H, W] of a two-class model: from logits [B, 2, H, W] the difference
    class 1 - class 0 (its sigmoid is softmax's probability of class 1), from [B, 1, H, W] the map itself."""
    if logits.shape[1] == 1:
        return logits[:, 0]
    if logits.shape[1] != 2:
        raise ValueError(f"binary losses need one or two classes, not {logits.shape[1]}")
    return logits[:, 1] - logits[:, 0]


def valid_binary(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(foreground logits [N] as float32, float targets [N] in {0, 1}) of the pixels not ignored."""
    keep = target != ignore_index
    return binary_logit(logits).float()[keep], target[keep].float()


def present_mean(values: torch.Tensor, present: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Mean of per-class ``values`` [K] over the classes ``present`` [K] (bool); 0 (with a gradient path
    through ``like``) when there is none, e.g. a batch whose pixels are all ignored."""
    if not bool(present.any()):
        return like.sum() * 0.0
    return values[present].mean()
