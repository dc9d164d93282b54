"""The epoch's order, drawn from (seed, epoch), cut into batches, sharded by process rank."""

from __future__ import annotations

import math
from typing import Iterator

import torch

from .seeding import mix_seed


class EpochBatchSampler:
    """Yields batches of ``(index, sample_seed)`` for one epoch, from step ``start_step`` on.

    The order is a permutation drawn from ``(seed, epoch)``; each sample's seed comes from
    ``(seed, epoch, index)``, so a batch depends on nothing but the seed, the epoch and the step,
    whatever the number of workers or processes. With several processes the permutation is padded
    to a multiple of the world size (training) and each rank takes every world_size-th index;
    evaluation shards without padding, so no sample is counted twice.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
    ) -> None:
        self.size = size
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.epoch = 0
        self.start_step = 0

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        self.epoch = epoch
        self.start_step = start_step

    def order(self) -> list[int]:
        """Every sample index of the current epoch, for all ranks, in order: a permutation drawn from
        (seed, epoch) when shuffling (subclasses draw differently), else 0..size-1."""
        if not self.shuffle:
            return list(range(self.size))
        g = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch))
        return torch.randperm(self.size, generator=g).tolist()

    def indices(self) -> list[int]:
        """This rank's sample indices for the current epoch, in order."""
        order = self.order()
        if self.world_size > 1 and self.shuffle:
            total = math.ceil(self.size / self.world_size) * self.world_size
            order += order[: total - len(order)]
        return order[self.rank :: self.world_size]

    def _drops_last(self, n: int) -> bool:
        # A ragged last batch is dropped in training, unless it is the only batch there is.
        return self.drop_last and n >= self.batch_size

    def __len__(self) -> int:
        """Batches in a whole epoch (from step 0)."""
        n = len(self.indices()) if self.world_size > 1 else self.size
        return n // self.batch_size if self._drops_last(n) else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = self.indices()
        steps = len(order) // self.batch_size if self._drops_last(len(order)) else math.ceil(len(order) / self.batch_size)
        for step in range(self.start_step, steps):
            first = step * self.batch_size
            chunk = order[first : first + self.batch_size]
            yield [(i, self.sample_seed(i, (first + j) * self.world_size + self.rank)) for j, i in enumerate(chunk)]

    def sample_seed(self, index: int, position: int) -> int:
        """The augmentation seed of sample ``index`` at ``position`` of the epoch (over all ranks): from
        (seed, epoch, index), as each sample comes once an epoch."""
        return mix_seed(self.seed, self.epoch, index)
