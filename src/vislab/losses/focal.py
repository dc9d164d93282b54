"""Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_t)^gamma, so confident pixels weigh less."""

from __future__ import annotations

import torch

from .common import valid_binary, valid_pixels


def focal(logits: torch.Tensor, target: torch.Tensor, ignore_index: int, gamma: float = 2.0) -> torch.Tensor:
    """Mean over the pixels not ignored of -(1 - p_t)^gamma log p_t, p_t the softmax probability of the true
    class; logits [B, K, H, W], targets [B, H, W]. gamma 0 is the cross-entropy."""
    x, y = valid_pixels(logits, target, ignore_index)
    if not y.numel():
        return logits.sum() * 0.0
    log_pt = x.log_softmax(1).gather(1, y[:, None])[:, 0]
    return (-(1 - log_pt.exp()) ** gamma * log_pt).mean()


def binary_focal(logits: torch.Tensor, target: torch.Tensor, ignore_index: int, gamma: float = 2.0,
                 alpha: float | None = 0.25) -> torch.Tensor:
    """torchvision's sigmoid_focal_loss, averaged over the pixels not ignored: the foreground logit's binary
    cross-entropy times (1 - p_t)^gamma, times alpha on foreground and 1 - alpha on background pixels
    (alpha None: no such weight)."""
    from torchvision.ops import sigmoid_focal_loss

    x, y = valid_binary(logits, target, ignore_index)
    if not x.numel():
        return logits.sum() * 0.0
    return sigmoid_focal_loss(x, y, alpha=-1 if alpha is None else alpha, gamma=gamma, reduction="mean")
