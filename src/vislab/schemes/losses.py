"""The losses of learning beyond labels, as pure functions of logits (classification [B, K], or per pixel
[B, K, H, W]; class dim 1 either way).

Each follows its reference: FixMatch as in Sohn et al.'s code and Dassl (masked cross-entropy averaged
over the whole unlabeled batch, not over the confident part); Mean Teacher's squared difference of
softmax outputs averaged over classes and samples, with its sigmoid ramp-up (Tarvainen & Valpola's code);
distillation as Hinton et al. (KL divergence of temperature-softened outputs, scaled by T^2).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F


class PseudoLabels(NamedTuple):
    """Hard pseudo-labels from a teacher's (or the weak view's) logits: ``labels`` int64 [B] or [B,H,W],
    ``mask`` float [B] or [B,H,W] (1 where the confidence reaches the threshold), ``confidence`` likewise."""

    labels: torch.Tensor
    mask: torch.Tensor
    confidence: torch.Tensor


def pseudo_labels(logits: torch.Tensor, threshold: float) -> PseudoLabels:
    """Argmax and confidence of ``softmax(logits)`` along dim 1, without gradient; ``mask`` marks
    the predictions whose confidence is at least ``threshold``."""
    with torch.no_grad():
        probs = logits.detach().float().softmax(1)
        confidence, labels = probs.max(1)
        return PseudoLabels(labels, (confidence >= threshold).float(), confidence)


def masked_cross_entropy(logits: torch.Tensor, pseudo: PseudoLabels, valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """FixMatch's unlabeled loss: cross-entropy of ``logits`` (the strong view) against the pseudo-labels,
    zero where the mask is 0, averaged over every sample (pixel) of the batch, confident or not.

    ``valid`` (bool, like the mask) excludes positions from the average altogether (padding, pixels
    a CutMix box filled from an image that does not exist).
    """
    losses = F.cross_entropy(logits.float(), pseudo.labels, reduction="none") * pseudo.mask
    if valid is None:
        return losses.mean()
    return (losses * valid).sum() / valid.sum().clamp_min(1)


def fixmatch_loss(logits_weak: torch.Tensor, logits_strong: torch.Tensor, threshold: float) -> tuple[torch.Tensor, PseudoLabels]:
    """The unlabeled term of FixMatch: pseudo-labels from the weak view [B, K(, H, W)], confident ones
    taught to the strong view; returns the loss and the pseudo-labels (for the share kept)."""
    pseudo = pseudo_labels(logits_weak, threshold)
    return masked_cross_entropy(logits_strong, pseudo), pseudo


def softmax_mse(student_logits: torch.Tensor, teacher_logits: torch.Tensor, valid: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean Teacher's consistency: mean over samples, classes (and pixels) of the squared difference of
    the softmax outputs; ``valid`` (bool [B, H, W]) restricts the pixels averaged over. The teacher side
    carries no gradient."""
    student = student_logits.float().softmax(1)
    teacher = teacher_logits.detach().float().softmax(1)
    squared = (student - teacher).square().mean(1)
    if valid is None:
        return squared.mean()
    return (squared * valid).sum() / valid.sum().clamp_min(1)


def sigmoid_rampup(progress: float, length: float) -> float:
    """exp(-5 (1 - t)^2) with t = progress / length clipped to [0, 1]: 0.0067 at the start, 1 from
    ``length`` on (Laine & Aila; Tarvainen & Valpola). ``length`` 0 means no ramp."""
    if length <= 0:
        return 1.0
    t = min(max(progress / length, 0.0), 1.0)
    return math.exp(-5.0 * (1.0 - t) ** 2)


def distillation_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float, valid: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), summed over classes and averaged over
    samples (pixels); ``valid`` (bool [B] or [B,H,W]) restricts the average. Teacher without gradient."""
    log_student = F.log_softmax(student_logits.float() / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_logits.detach().float() / temperature, dim=1)
    kl = (log_teacher.exp() * (log_teacher - log_student)).sum(1)
    if valid is not None:
        kl = (kl * valid).sum() / valid.sum().clamp_min(1)
    else:
        kl = kl.mean()
    return kl * temperature**2


def soft_cross_entropy(logits: torch.Tensor, probs: torch.Tensor, weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Cross-entropy of ``logits`` [B, K] against target distributions ``probs`` [B, K], each sample
    weighted by ``weights`` [B] (default 1), averaged over the batch (Noisy Student's soft pseudo-labels)."""
    losses = -(probs * F.log_softmax(logits.float(), dim=1)).sum(1)
    if weights is not None:
        losses = losses * weights
    return losses.mean()


@torch.no_grad()
def ema_update(teacher: torch.nn.Module, student: torch.nn.Module, decay: float) -> None:
    """teacher = decay * teacher + (1 - decay) * student on parameters and floating buffers; integer buffers
    (BatchNorm's batch count) are copied, as Mean Teacher's code and timm's ModelEmaV3 do. The update of the
    model EMA (engine.ema), with Mean Teacher's decay."""
    from ..engine.ema import move_toward, state_pairs

    move_toward(state_pairs(teacher, student), 1.0 - decay)
