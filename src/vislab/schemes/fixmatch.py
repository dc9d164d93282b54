"""FixMatch (Sohn et al., 2020): pseudo-labels from the weak view, taught to the strong one where confident; for
per-pixel tasks the strong views are CutMixed between images and the pseudo-labels mixed alike."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..tasks.base import StepContext
from .consistency import Consistency, unlabeled_pixels
from .cutmix import cutmix_boxes, from_partner, mixed_labels
from .losses import fixmatch_loss, masked_cross_entropy, pseudo_labels


class FixMatch(Consistency):
    """See the module docstring."""

    name = "fixmatch"

    def step(self, model: nn.Module, batch: dict, ctx: StepContext) -> tuple[torch.Tensor, Any]:
        """The task's loss on the labeled batch + ``semisup.weight`` x the unlabeled loss."""
        unlabeled, g, s = ctx.batches["unlabeled"], self.generator(ctx), self.cfg.semisup
        weak = unlabeled["image"]
        strong = self.strong(weak, g)
        box = cutmix_boxes(weak.shape[0], weak.shape[-2], weak.shape[-1], g) if self.per_pixel else None
        if box is not None:
            strong = from_partner(strong, box)
        out_labeled, out_weak, out_strong = self.joint_forward(model, [batch, unlabeled, {**unlabeled, "image": strong}])
        if box is None:
            loss, _ = fixmatch_loss(self.logits(out_weak), self.logits(out_strong), s.threshold)
        else:
            valid = unlabeled_pixels(unlabeled, self.ignore_index)
            pseudo, valid = mixed_labels(pseudo_labels(self.logits(out_weak), s.threshold), valid, box)
            loss = masked_cross_entropy(self.logits(out_strong), pseudo, valid)
        return self.task.loss(out_labeled, batch) + s.weight * loss, out_labeled
