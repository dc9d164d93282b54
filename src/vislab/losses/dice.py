"""Dice loss: the Tversky loss with alpha = beta = 0.5, since 2 TP / (2 TP + FP + FN) = TP / (TP + FP/2 + FN/2)."""

from __future__ import annotations

import torch

from .tversky import binary_tversky, tversky


def dice(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """1 - mean soft Dice over the classes present in ``target`` [B, H, W] (softmax of logits [B, K, H, W])."""
    return tversky(logits, target, ignore_index, 0.5, 0.5)


def binary_dice(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """1 - soft Dice of the foreground (sigmoid of the binary logit), targets [B, H, W] in {0, 1}."""
    return binary_tversky(logits, target, ignore_index, 0.5, 0.5)
