"""The two kinds of split a dataset module returns: per-sample (decoded and augmented one by one in
DataLoader workers) and in-memory (one uint8 tensor, batches cut by indexing and augmented per batch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch.utils.data import Dataset

from .files.images import read_image


class SampleDataset(Dataset):
    """A split read one sample at a time.

    Subclasses implement ``__len__`` and ``load(index) -> dict`` (``image`` as a uint8 tensor or
    ``tv_tensors.Image``, ``target``, ...). ``transform`` (a torchvision.transforms.v2 callable on that
    dict) runs under a torch RNG seeded with the sample seed, so augmentation is reproducible whatever
    the worker that runs it.
    """

    transform: Optional[Callable[[dict], dict]] = None

    def load(self, index: int) -> dict:
        raise NotImplementedError

    def __getitem__(self, key: Any) -> dict:
        index, seed = key if isinstance(key, tuple) else (key, None)
        return self.transformed(self.load(index), index, seed)

    def transformed(self, sample: dict, index: int, seed: Optional[int] = None) -> dict:
        """A loaded sample of position ``index`` under ``transform``, seeded with ``seed`` (None: unseeded)."""
        if self.transform is not None:
            if seed is None:
                sample = self.transform(sample)
            else:
                # v2 transforms draw from the CPU default generator: seed it for this sample, then put its
                # state back (100x cheaper than fork_rng + manual_seed, which dominated small images)
                generator = torch.default_generator
                state = generator.get_state()
                generator.manual_seed(seed)
                try:
                    sample = self.transform(sample)
                finally:
                    generator.set_state(state)
        sample = {k: v.as_subclass(torch.Tensor) if isinstance(v, torch.Tensor) else v for k, v in sample.items()}
        sample["index"] = index
        return sample


def extra_labels(extras: dict[str, torch.Tensor], index: int) -> dict[str, int]:
    """One sample's further labels (``domain``, ...) from per-split tensors [N], as plain ints: v2
    transforms pass ints through, and collation stacks them into int64 [B]."""
    return {k: int(v[index]) for k, v in extras.items()}


class MemoryDataset(Dataset):
    """A split held as tensors: ``images`` uint8 [N,C,H,W], ``targets`` [N] or [N,H,W], ``extras`` [N,...].

    ``augment(batch, generator) -> batch`` is applied per batch on the device (``image`` float in [0, 1],
    before normalization) with a generator seeded from (seed, epoch, step): a training split's augments,
    an evaluation split's only resizes or crops to the size the model expects.
    Indexing one item returns the same dict a SampleDataset does, un-augmented.
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        extras: Optional[dict[str, torch.Tensor]] = None,
        augment: Optional[Callable] = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 [N,C,H,W], got {images.dtype} {tuple(images.shape)}")
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} targets")
        self.images = images
        self.targets = targets
        self.extras = extras or {}
        self.augment = augment

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: Any) -> dict:
        index = key[0] if isinstance(key, tuple) else key
        sample = {"image": self.images[index], "target": self.targets[index], "index": index}
        sample.update({k: v[index] for k, v in self.extras.items()})
        return sample

    def to(self, device: torch.device) -> "MemoryDataset":
        """The same split with its tensors on ``device`` (kept there for the whole run)."""
        return MemoryDataset(
            self.images.to(device),
            self.targets.to(device),
            {k: v.to(device) for k, v in self.extras.items()},
            self.augment,
        )

    def subset(self, indices: torch.Tensor | list[int]) -> "MemoryDataset":
        idx = torch.as_tensor(indices, dtype=torch.long)
        return MemoryDataset(
            self.images[idx], self.targets[idx], {k: v[idx] for k, v in self.extras.items()}, self.augment
        )


class FolderDataset(SampleDataset):
    """Images decoded from disk one at a time, converted to ``mode``, augmented by a v2 pipeline;
    ``extras`` holds further per-sample labels [N] by name."""

    def __init__(
        self, root: Path, items: list[tuple], mode: str, transform, extras: Optional[dict[str, torch.Tensor]] = None
    ) -> None:
        self.root = root
        self.items = [(it[0], it[1]) for it in items]
        self.mode = mode
        self.transform = transform
        self.extras = extras or {}

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int) -> dict:
        from torchvision import tv_tensors

        name, label = self.items[index]
        sample = {"image": tv_tensors.Image(read_image(self.root / name, self.mode)), "target": label}
        return {**sample, **extra_labels(self.extras, index)}
