"""MixStyle (Zhou et al., "Domain Generalization with MixStyle", ICLR 2021).

A feature map's style is its per-channel mean and standard deviation over space. MixStyle, in training
only and with probability ``p`` per batch, normalizes each sample's features with its own statistics and
re-styles them with a mixture of its statistics and a partner's: lam * own + (1 - lam) * partner's, with
lam ~ Beta(alpha, alpha) per sample. The statistics are detached, as in the paper, so no gradient flows
through them. Partners are a random permutation of the batch (``random``), or a random sample from
another domain (``crossdomain``, which needs domain labels and at least two domains in the batch: see
data.domains.DomainBatchSampler). With several processes each mixes within its own batch.

All draws (whether to mix, lam, partners) come from torch's CPU generator, which checkpoints save, so a
resumed run mixes exactly as an uninterrupted one. Each mixing is recorded as (lam [B], partner [B]) so
the loss can give the domain head the matching soft label.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from ..config import MixStyleConfig
from ..errors import VislabError

Mix = tuple[torch.Tensor, torch.Tensor]  # (lam float [B], partner index int64 [B])


def mix_styles(x: torch.Tensor, lam: torch.Tensor, partner: torch.Tensor, eps: float) -> torch.Tensor:
    """Features [B, C, H, W] with sample i's channel statistics replaced by lam[i] * its own +
    (1 - lam[i]) * those of sample partner[i]; statistics (mean, and std from the unbiased variance + eps)
    are computed in at least float32 precision, and detached."""
    xf = x.to(torch.promote_types(x.dtype, torch.float32))
    mu = xf.mean((2, 3), keepdim=True).detach()
    sig = (xf.var((2, 3), keepdim=True) + eps).sqrt().detach()
    lam = lam.to(xf.device, xf.dtype).view(-1, 1, 1, 1)
    mu_mix = lam * mu + (1 - lam) * mu[partner]
    sig_mix = lam * sig + (1 - lam) * sig[partner]
    return ((xf - mu) / sig * sig_mix + mu_mix).to(x.dtype)


def random_partners(n: int) -> torch.Tensor:
    """A random permutation of the batch: [n] int64."""
    return torch.randperm(n)


def cross_domain_partners(domains: torch.Tensor) -> torch.Tensor:
    """For each sample a random partner of another domain in the batch (itself where there is none):
    ``domains`` int64 [B] -> int64 [B]."""
    n = len(domains)
    scores = torch.rand(n, n).to(domains.device)  # drawn on the CPU generator, as before; no device sync
    other = domains[:, None] != domains[None, :]
    scores = scores.masked_fill(~other, -1.0)
    return torch.where(other.any(1), scores.argmax(1), torch.arange(n, device=domains.device))


class MixStyle(nn.Module):
    """Placed after chosen stages through forward hooks (``attach``); the model calls ``start(domains)``
    before its forward and ``finish()`` after, which returns the mixings applied, in order."""

    def __init__(self, cfg: MixStyleConfig) -> None:
        super().__init__()
        if not 0 <= cfg.p <= 1 or cfg.alpha <= 0 or cfg.eps <= 0:
            raise VislabError(
                f"model.mixstyle needs p in [0, 1], alpha > 0 and eps > 0 (got p={cfg.p}, alpha={cfg.alpha}, eps={cfg.eps})"
            )
        self.p, self.alpha, self.eps, self.mix = cfg.p, cfg.alpha, cfg.eps, cfg.mix
        self.domains: Optional[torch.Tensor] = None
        self.mixes: list[Mix] = []

    def start(self, domains: Optional[torch.Tensor]) -> None:
        self.domains, self.mixes = domains, []

    def finish(self) -> list[Mix]:
        mixes, self.domains, self.mixes = self.mixes, None, []
        return mixes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or float(torch.rand(())) >= self.p:
            return x
        n = x.shape[0]
        concentration = torch.full((n,), float(self.alpha))
        lam = torch.distributions.Beta(concentration, concentration).sample()
        if self.mix == "crossdomain":
            if self.domains is None:
                raise VislabError("model.mixstyle.mix=crossdomain needs the batch's domain labels")
            partner = cross_domain_partners(self.domains)
        else:
            partner = random_partners(n)
        partner = partner.to(x.device)
        self.mixes.append((lam.to(x.device), partner))
        return mix_styles(x, lam, partner, self.eps)

    def hook(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        """A forward hook: the stage's output, mixed."""
        return self(output)
