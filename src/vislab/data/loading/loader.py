"""Batches for the loop: either split kind in, dicts of device tensors out, images normalized."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import torch
from torch.utils.data import DataLoader, Dataset, default_collate
from torchvision.transforms import v2

from ...threads import usable_cores
from ..augment.per_batch import resize_batch
from ..datasets import MemoryDataset
from .sampling import EpochBatchSampler
from .seeding import mix_seed


def default_num_workers() -> int:
    """Worker processes for per-sample loading: the cores this process may use, less one, at most 8."""
    return max(0, min(8, usable_cores() - 1))


class Loader:
    """Iterates one split, one epoch at a time, yielding batches on ``device``.

    Images arrive as uint8 (or float in [0, 1]) and leave as float, normalized with ``mean``/``std``
    when given. In-memory splits are cut by indexing and augmented per batch on the device (each split
    carries its own ``augment``: random for training, the deterministic resize/crop for evaluation);
    per-sample splits go through a DataLoader with ``num_workers`` processes. ``batch_transform``
    (training only) runs last, with a generator seeded from (seed, epoch, step). ``sampler`` replaces
    EpochBatchSampler (called with the same arguments) where a task needs batches arranged otherwise.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        *,
        device: torch.device,
        train: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        num_workers: Optional[int] = None,
        mean: Optional[list[float]] = None,
        std: Optional[list[float]] = None,
        batch_transform: Optional[Callable[[dict, torch.Generator], dict]] = None,
        limit_batches: Optional[int] = None,
        sampler: Optional[Callable[..., EpochBatchSampler]] = None,
    ) -> None:
        self.device = torch.device(device)
        self.train = train
        self.seed = seed
        self.limit_batches = limit_batches
        self.batch_transform = batch_transform if train else None
        self.sampler = (sampler or EpochBatchSampler)(
            len(dataset), batch_size, shuffle=train, seed=seed, rank=rank, world_size=world_size, drop_last=train
        )
        self.rank = rank
        self.memory = isinstance(dataset, MemoryDataset)
        self.dataset = dataset.to(self.device) if self.memory else dataset
        self.mean = self.std = None
        if mean is not None and std is not None:
            self.mean = torch.tensor(mean, device=self.device).view(1, -1, 1, 1)
            self.std = torch.tensor(std, device=self.device).view(1, -1, 1, 1)
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        self.size: Optional[list[int]] = None  # progressive resizing: training batches resized to [H, W]
        if not self.memory:
            self.dataloader = self._dataloader()

    def _dataloader(self) -> DataLoader:
        return DataLoader(
            self.dataset,
            batch_sampler=self.sampler,
            num_workers=self.num_workers,
            collate_fn=getattr(self.dataset, "collate", default_collate),  # segmentation pads sizes
            pin_memory=self.device.type == "cuda",
            persistent_workers=self.num_workers > 0,
            # Starting an epoch draws a worker base seed; from the global generator that draw
            # would shift dropout after a mid-epoch resume. Samples are seeded by the sampler anyway.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def set_stage(self, size: Optional[int], magnitude: Optional[int]) -> None:
        """Progressive learning: training batches resized to ``size`` x ``size`` (None: as augmented), and the
        per-sample RandAugment at ``magnitude`` (None: unchanged; its workers restart to see it)."""
        self.size = None if size is None else [size, size]
        policies = [t for t in getattr(getattr(self.dataset, "transform", None), "transforms", []) if isinstance(t, v2.RandAugment)]
        if magnitude is not None and any(t.magnitude != magnitude for t in policies):
            for t in policies:
                t.magnitude = magnitude
            if not self.memory and self.num_workers > 0:
                self.dataloader = self._dataloader()  # persistent workers hold copies of the old pipeline

    def __len__(self) -> int:
        """Batches per epoch on this process."""
        n = len(self.sampler)
        return min(n, self.limit_batches) if self.limit_batches else n

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[dict[str, Any]]:
        """Batches of ``epoch`` from ``start_step`` on."""
        self.sampler.set_epoch(epoch, start_step)
        batches = self._memory_batches() if self.memory else iter(self.dataloader)
        for step in range(start_step, len(self)):
            batch = next(batches, None)
            if batch is None:
                return
            yield self._finish(batch, epoch, step)

    def _memory_batches(self) -> Iterator[dict[str, Any]]:
        ds = self.dataset
        for keys in self.sampler:
            idx = torch.tensor([k[0] for k in keys], device=self.device)
            batch = {"image": ds.images[idx], "target": ds.targets[idx], "index": idx}
            batch.update({k: v[idx] for k, v in ds.extras.items()})
            yield batch

    def _generator(self, epoch: int, step: int) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(mix_seed(self.seed, epoch, step, self.rank))
        return g

    def _finish(self, batch: dict[str, Any], epoch: int, step: int) -> dict[str, Any]:
        batch = {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        image = batch["image"]
        batch["image"] = image.float().div_(255) if image.dtype == torch.uint8 else image.float()
        augment = getattr(self.dataset, "augment", None) if self.memory else None  # evaluation: resize/crop only
        if augment is not None:
            batch = augment(batch, self._generator(epoch, step))
        if self.size is not None and self.train:
            batch = resize_batch(batch, self.size)
        if self.mean is not None:
            batch["image"] = (batch["image"] - self.mean) / self.std
        if self.batch_transform is not None:
            batch = self.batch_transform(batch, self._generator(epoch, step + (1 << 32)))
        return batch
