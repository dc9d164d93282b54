"""``data.sampler=domain_balanced``: every training batch draws equally from the training domains, as
Dassl's RandomDomainSampler does.

Each batch picks ``data.domains_per_batch`` distinct domains (null: every training domain) and takes
batch_size / domains_per_batch samples from each, without replacement within the epoch; as in Dassl, the
epoch ends after the batch that leaves one of its domains with fewer samples than a share, so one epoch
sees each sample at most once and the smallest domain sets its length. Every draw comes from a generator seeded with (seed,
epoch): the batches depend only on the seed, the epoch and the step, every rank computes the same
sequence and takes every world_size-th batch, and a resumed epoch continues where it stopped.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch.utils.data import Dataset

from ...errors import VislabError
from .sampling import EpochBatchSampler
from .seeding import mix_seed


class DomainBalancedSampler(EpochBatchSampler):
    """Batches of ``batch_size`` holding ``batch_size / per_batch`` samples of each of ``per_batch``
    domains; ``domains`` int64 [N] is the domain id of every training sample."""

    def __init__(self, size: int, batch_size: int, *, domains: torch.Tensor, per_batch: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(size, batch_size, **kwargs)
        self.domains = torch.as_tensor(domains).cpu()
        self.present = sorted(set(self.domains.tolist()))
        self.per_batch = len(self.present) if per_batch is None else per_batch
        if not 1 <= self.per_batch <= len(self.present):
            raise VislabError(
                f"data.domains_per_batch={self.per_batch}: the training split has {len(self.present)} domains; "
                f"choose 1..{len(self.present)} or null (all of them)"
            )
        if batch_size % self.per_batch:
            raise VislabError(
                f"data.sampler=domain_balanced: train.batch_size={batch_size} does not split into {self.per_batch} "
                f"equal domain shares; make it a multiple of {self.per_batch}"
            )
        self.share = batch_size // self.per_batch
        small = [d for d in self.present if int((self.domains == d).sum()) < self.share]
        if small:
            raise VislabError(
                f"data.sampler=domain_balanced: training domain {small[0]} has fewer than the {self.share} samples "
                "each batch takes from a domain; lower train.batch_size or raise data.domains_per_batch"
            )

    def batches(self) -> list[list[int]]:
        """Every batch of the current epoch, for all ranks, in order."""
        g = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch))
        left = {d: (self.domains == d).nonzero().flatten() for d in self.present}
        left = {d: idx[torch.randperm(len(idx), generator=g)].tolist() for d, idx in left.items()}
        out: list[list[int]] = []
        while True:  # every domain holds a share at first (checked above), so there is at least one batch
            picked = [self.present[int(i)] for i in torch.randperm(len(self.present), generator=g)[: self.per_batch]]
            batch = []
            for d in picked:
                batch += left[d][: self.share]
                left[d] = left[d][self.share :]
            out.append(batch)
            if any(len(left[d]) < self.share for d in picked):  # as Dassl stops
                return out

    def indices(self) -> list[int]:
        mine = self.batches()
        usable = max(1, len(mine) // self.world_size) * self.world_size  # every rank takes as many steps
        mine = (mine * self.world_size)[:usable]  # one batch per rank at least, when there are fewer
        return [i for batch in mine[self.rank :: self.world_size] for i in batch]

    def __len__(self) -> int:
        return len(self.indices()) // self.batch_size



def domain_labels(dataset: Dataset) -> torch.Tensor:
    """The domain id of every sample of a split (or of a labeled cut of it: Subset.extras), int64 [N]."""
    return torch.as_tensor(dataset.extras["domain"]).cpu()  # type: ignore[attr-defined]
