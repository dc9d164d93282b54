"""CutMix and MixUp: per training batch, on the device, after normalization; targets become soft [B, C].

A mixed batch pairs each sample with its neighbour (the batch rolled by one, as torchvision's v2.CutMix
and v2.MixUp do). With both switched on, each batch picks CutMix with probability ``aug.mix_switch_p``
(timm's switch_prob), else MixUp, then mixes with that one's probability ``p``. The mixing proportion
comes from Beta(alpha, alpha). From epoch ``aug.mix_off_epoch`` on (numbered from 1, as in metrics.csv) no
batch is mixed (timm's mixup_off_epoch; ``enabled`` is set at each epoch's start). Batches left unmixed keep their class ids:
the classification loss takes either kind of target.
"""

from __future__ import annotations

import copy
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ...config import AugConfig, MixConfig
from ...errors import VislabError


def mix_transform(aug: AugConfig, num_classes: int) -> Optional["BatchMix"]:
    """``batch_transform(batch, generator) -> batch`` for ``aug.cutmix``/``aug.mixup``, or None when both are off."""
    choices = [(mix, copy.copy(cfg)) for mix, cfg in ((cutmix, aug.cutmix), (mixup, aug.mixup)) if cfg is not None]
    if aug.mix_switch_p != 0.5 and len(choices) < 2:
        raise VislabError("aug.mix_switch_p chooses between CutMix and MixUp, which needs both aug.cutmix and aug.mixup; "
                          "set aug.mix_switch_p=0.5")
    if aug.mix_off_epoch is not None and not choices:
        raise VislabError("aug.mix_off_epoch stops CutMix/MixUp, and neither is on; set aug.mix_off_epoch=null")
    return BatchMix(choices, num_classes, aug.mix_switch_p) if choices else None


class BatchMix:
    """CutMix or MixUp per batch; ``choices`` are (mix, its settings) pairs, CutMix first when both are on."""

    def __init__(self, choices: list[tuple[Callable, MixConfig]], num_classes: int, switch_p: float = 0.5) -> None:
        self.choices = choices
        self.num_classes = num_classes
        self.switch_p = switch_p
        self.enabled = True

    def settings(self, mix: Callable) -> Optional[MixConfig]:
        """The settings of ``mix`` (``cutmix`` or ``mixup``) when it is on (progressive stages change ``alpha``)."""
        return next((cfg for m, cfg in self.choices if m is mix), None)

    def __call__(self, batch: dict, g: torch.Generator) -> dict:
        if not self.enabled:
            return batch
        draws = torch.rand(2, generator=g, device=g.device).tolist()
        mix, cfg = self.choices[0 if len(self.choices) == 1 or draws[0] < self.switch_p else 1]
        if draws[1] >= cfg.p or cfg.alpha <= 0 or batch["image"].shape[0] < 2:  # alpha 0: a progressive stage without MixUp
            return batch
        # numpy draws the Beta sample: torch's Beta takes no generator; its seed comes from ``g``.
        seed = int(torch.randint(0, 2**62, (1,), generator=g, device=g.device))
        lam = float(np.random.default_rng(seed).beta(cfg.alpha, cfg.alpha))
        image, lam = mix(batch["image"], lam, g)
        target = F.one_hot(batch["target"], self.num_classes).to(image.dtype)
        return {**batch, "image": image, "target": lam * target + (1 - lam) * target.roll(1, 0)}


def mixup(x: torch.Tensor, lam: float, g: torch.Generator) -> tuple[torch.Tensor, float]:
    """lam * x + (1 - lam) * partner; [B, C, H, W] in and out."""
    return lam * x + (1 - lam) * x.roll(1, 0), lam


def cutmix(x: torch.Tensor, lam: float, g: torch.Generator) -> tuple[torch.Tensor, float]:
    """A box covering about (1 - lam) of the image pasted from the partner; lam re-measured after clipping."""
    H, W = x.shape[-2:]
    cy, cx = (torch.rand(2, generator=g, device=g.device) * torch.tensor([H, W], device=g.device)).long().tolist()
    rh, rw = int(H * (1 - lam) ** 0.5 / 2), int(W * (1 - lam) ** 0.5 / 2)
    y1, y2, x1, x2 = max(cy - rh, 0), min(cy + rh, H), max(cx - rw, 0), min(cx + rw, W)
    out = x.clone()
    out[:, :, y1:y2, x1:x2] = x.roll(1, 0)[:, :, y1:y2, x1:x2]
    return out, 1.0 - (y2 - y1) * (x2 - x1) / (H * W)
