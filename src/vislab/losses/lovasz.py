"""Lovasz-softmax and Lovasz hinge (Berman et al. 2018): convex surrogates of the Jaccard loss, as the
authors' reference code computes them over the whole batch (per_image=False, classes='present')."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .common import present_mean, valid_binary, valid_pixels


def lovasz_grad(truth_sorted: torch.Tensor) -> torch.Tensor:
    """The Lovasz extension's gradient [N] of the Jaccard loss for truth [N] (0/1, float) sorted by
    decreasing error: the Jaccard loss of the first i errors minus that of the first i - 1."""
    total = truth_sorted.sum()
    intersection = total - truth_sorted.cumsum(0)
    union = total + (1 - truth_sorted).cumsum(0)
    jaccard = 1 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])


def lovasz_softmax(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Mean over the classes present in ``target`` [B, H, W] of the Lovasz extension of the Jaccard loss
    applied to the errors |1[class] - p_class| of the softmax of logits [B, K, H, W]."""
    x, y = valid_pixels(logits, target, ignore_index)
    probs = x.softmax(1)
    onehot = F.one_hot(y, x.shape[1]).float()
    losses = torch.zeros(x.shape[1], device=x.device)
    for c in range(x.shape[1]):
        errors, order = (onehot[:, c] - probs[:, c]).abs().sort(descending=True)
        losses[c] = errors @ lovasz_grad(onehot[order, c])
    return present_mean(losses, onehot.sum(0) > 0, logits)


def lovasz_hinge(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """The binary form: the Lovasz extension applied to the hinge errors max(0, 1 - s x) of the foreground
    logit x (common.binary_logit), s = +1 on foreground and -1 on background pixels of ``target``."""
    x, y = valid_binary(logits, target, ignore_index)
    if not x.numel():
        return logits.sum() * 0.0
    errors, order = (1 - x * (2 * y - 1)).sort(descending=True)
    return F.relu(errors) @ lovasz_grad(y[order])
