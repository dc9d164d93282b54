"""Tversky loss (Salehi et al. 2017) and its binary form: 1 - TP / (TP + alpha FP + beta FN), soft counts from
probabilities, summed over the batch's pixels (as smp does), averaged over the classes present in the target."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .common import present_mean, valid_binary, valid_pixels

EPS = 1e-7  # keeps 0/0 finite; smp's default


def soft_tversky(probs: torch.Tensor, onehot: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """Per-class Tversky index [K] from probabilities [N, K] and one-hot truth [N, K]."""
    tp = (probs * onehot).sum(0)
    fp = (probs * (1 - onehot)).sum(0)
    fn = ((1 - probs) * onehot).sum(0)
    return tp / (tp + alpha * fp + beta * fn).clamp_min(EPS)


def tversky(logits: torch.Tensor, target: torch.Tensor, ignore_index: int, alpha: float = 0.5, beta: float = 0.5) -> torch.Tensor:
    """1 - mean Tversky index over the classes present in ``target`` [B, H, W], softmax of logits [B, K, H, W];
    ``alpha`` weighs false positives, ``beta`` false negatives (0.5 and 0.5: the Dice loss)."""
    x, y = valid_pixels(logits, target, ignore_index)
    onehot = F.one_hot(y, x.shape[1]).float()
    index = soft_tversky(x.softmax(1), onehot, alpha, beta)
    return present_mean(1 - index, onehot.sum(0) > 0, logits)


def binary_tversky(logits: torch.Tensor, target: torch.Tensor, ignore_index: int, alpha: float = 0.5, beta: float = 0.5) -> torch.Tensor:
    """1 - the Tversky index of the foreground alone (sigmoid of common.binary_logit), targets in {0, 1}."""
    x, y = valid_binary(logits, target, ignore_index)
    if not x.numel():
        return logits.sum() * 0.0
    return 1 - soft_tversky(x.sigmoid()[:, None], y[:, None], alpha, beta)[0]
