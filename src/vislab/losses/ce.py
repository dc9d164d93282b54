"""Cross-entropy over the pixels not ignored (class weights, label smoothing, hardest-pixel mining), and its
binary form on the foreground logit."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .common import valid_binary


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, ignore_index: int, weight: torch.Tensor | None = None,
                  label_smoothing: float = 0.0, topk: float | None = None) -> torch.Tensor:
    """Cross-entropy of logits [B, K, H, W] against class ids [B, H, W] over the pixels not ignored: their
    mean, weighted by class ``weight`` [K] when given (divided by the pixels' summed weights, as PyTorch does);
    with ``topk`` the mean of only that share of the hardest pixels (online hard example mining)."""
    ce = F.cross_entropy(logits.float(), target, weight=weight, ignore_index=ignore_index, reduction="none",
                         label_smoothing=label_smoothing)
    valid = target != ignore_index
    if topk is not None:
        hard = ce[valid]
        k = math.ceil(topk * hard.numel())
        return hard.topk(k).values.mean() if k else ce.sum()
    total = weight[target[valid]].sum() if weight is not None else valid.sum()
    return ce.sum() / total.clamp_min(1e-12)


def binary_cross_entropy(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Mean binary cross-entropy of the foreground logit (common.binary_logit of logits [B, 1 or 2, H, W])
    against targets [B, H, W] in {0, 1}, ignored pixels left out."""
    x, y = valid_binary(logits, target, ignore_index)
    if not x.numel():
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(x, y)
