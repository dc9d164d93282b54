"""What the semi-supervised schemes share, for any task whose model gives class logits per image [B, K] or per
pixel [B, K, H, W]: the unlabeled stream, the step's strong-view generator, and the strong view (photometric only
for per-pixel tasks, so pseudo-labels stay aligned) made with the data's normalization undone and redone.

A step runs the labeled batch and the unlabeled views through the model together (``Scheme.joint_forward``),
and hands the labeled part of the outputs back to the task for its own loss and metrics.
"""

from __future__ import annotations

import torch

from ..data.bundle import DataBundle
from ..data.loading.seeding import mix_seed
from ..tasks.base import StepContext, Stream
from .scheme import Scheme
from .strong import strong_view

_STRONG_VIEW = 18  # mixed with train.seed and the step: the strong views' own random stream


def unlabeled_pixels(unlabeled: dict, ignore_index: int) -> torch.Tensor:
    """bool [B, H, W]: the unlabeled images' own pixels. Their hidden target marks them (data.labeled.hidden_target)
    and every padding, a crop's (``pad_if_needed``) or the collate's, fills it with the ignore index."""
    return unlabeled["target"] != ignore_index


class Consistency(Scheme):
    """A scheme that learns from the unlabeled pool (``semisup.*``): ``batch_size x semisup.ratio`` unlabeled
    images a step, as the extra stream "unlabeled"."""

    def extra_streams(self, bundle: DataBundle) -> dict[str, Stream]:
        pool = bundle.unlabeled
        return {"unlabeled": Stream(pool, min(self.cfg.train.batch_size * self.cfg.semisup.ratio, len(pool)))}

    def generator(self, ctx: StepContext) -> torch.Generator:
        """The strong views' generator for this step: from train.seed, the global step and the process."""
        g = torch.Generator(device=ctx.fabric.device)
        g.manual_seed(mix_seed(self.cfg.train.seed, _STRONG_VIEW, ctx.global_step, ctx.fabric.global_rank))
        return g

    def strong(self, image: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """The strong view of normalized images [B, C, H, W]."""
        s = self.cfg.semisup
        mean, std = self.mean.to(image.device), self.std.to(image.device)
        return strong_view(image, mean, std, g, s.strong_ops, s.cutout, geometric=not self.per_pixel)
