"""What classification datasets share: splits held as uint8 tensors (in memory, augmented per batch, or
augmented per sample), the in-memory decision, and assembling the bundle (info, CutMix/MixUp)."""

from __future__ import annotations

import os
from typing import Any, Optional

import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..augment.mixing import mix_transform
from ..augment.per_batch import augment_for_memory, memory_unsupported
from ..augment.per_sample import build_transform
from ..augment.plan import runs_in_memory
from ..bundle import DataBundle, DataInfo
from ..datasets import MemoryDataset, SampleDataset, extra_labels
from ..files.images import convert_channels
from ..files.stats import channel_stats
from ..loading.splits import limited, stratified_split

SMALL_SIDE = 128  # data.in_memory=auto keeps images up to this size in memory
MEMORY_SHARE = 4  # ... when they take at most 1/MEMORY_SHARE of the memory available


class ArrayDataset(SampleDataset):
    """A split held as uint8 tensors [N, C, H, W] but augmented one sample at a time (v2 pipeline);
    ``extras`` holds further per-sample labels [N] (e.g. ``domain``), passed through untouched."""

    def __init__(
        self, images: torch.Tensor, targets: torch.Tensor, transform: Any, extras: Optional[dict[str, torch.Tensor]] = None
    ) -> None:
        self.images = images
        self.targets = targets
        self.transform = transform
        self.extras = extras or {}

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> dict:
        sample = {"image": tv_tensors.Image(self.images[index]), "target": int(self.targets[index])}
        return {**sample, **extra_labels(self.extras, index)}


def available_memory() -> int:
    """Bytes of memory free now (Linux and macOS); 4 GiB where the system will not say."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def use_memory(setting: bool | str, aug: AugConfig, *, nbytes: int, sizes: set[tuple[int, int]]) -> bool:
    """``augment_plan.runs_in_memory`` for classification images: auto holds them when they are small, of
    one size, fit comfortably, and every augmentation switched on can run per batch."""
    small = len(sizes) == 1 and max(next(iter(sizes))) <= SMALL_SIDE
    fits = small and nbytes * MEMORY_SHARE <= available_memory()
    why_not = f"needs images of one size, these have {len(sizes)} sizes" if len(sizes) > 1 else None
    return runs_in_memory(setting, memory_unsupported(aug), fits=fits, why_not=why_not)


def array_split(
    images: torch.Tensor, targets: torch.Tensor, aug: AugConfig, *, memory: bool, train: bool,
    extras: Optional[dict[str, torch.Tensor]] = None,
) -> Dataset:
    """One split of uint8 images [N, C, H, W], class ids [N] and ``extras`` (more labels [N]), on the
    in-memory or the per-sample path."""
    if memory:
        return MemoryDataset(images, targets, extras, augment=augment_for_memory(aug, train=train))
    return ArrayDataset(images, targets, build_transform(aug, train=train), extras)


def holdout_bundle(
    cfg: DataConfig,
    aug: AugConfig,
    train: tuple[torch.Tensor, torch.Tensor],
    test: Optional[tuple[torch.Tensor, torch.Tensor]],
    class_names: list[str],
) -> DataBundle:
    """Validation (and test, when the dataset has no test split) held out of ``train``: stratified, seeded
    by ``data.split_seed``, each split cut to ``data.limit``. Images uint8 [N, C, H, W], targets int64 [N]."""
    images, targets = train
    test_fraction = cfg.test_fraction if test is None else 0.0
    parts = stratified_split(targets.tolist(), cfg.val_fraction, test_fraction, cfg.split_seed)
    tr, va, te = (torch.from_numpy(limited(p, cfg.limit)) for p in parts)
    splits = {"train": (images[tr], targets[tr]), "val": (images[va], targets[va])}
    if test is not None:
        splits["test"] = (test[0][: cfg.limit], test[1][: cfg.limit])
    elif len(te):
        splits["test"] = (images[te], targets[te])
    return tensor_bundle(cfg, aug, splits, class_names)


def tensor_bundle(
    cfg: DataConfig,
    aug: AugConfig,
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    class_names: list[str],
    extras: Optional[dict[str, dict[str, torch.Tensor]]] = None,
) -> DataBundle:
    """The bundle of splits given as (uint8 images [N, C, H, W], class ids [N]), with ``extras[split]``
    (more labels [N] by name), channels converted per ``data.channels``, statistics from the training split."""
    splits = {k: (convert_channels(x, cfg.channels), y) for k, (x, y) in splits.items()}
    train_images = splits["train"][0]
    nbytes = sum(x.numel() for x, _ in splits.values())
    memory = use_memory(cfg.in_memory, aug, nbytes=nbytes, sizes={tuple(train_images.shape[-2:])})
    datasets = {
        k: array_split(x, y, aug, memory=memory, train=k == "train", extras=(extras or {}).get(k))
        for k, (x, y) in splits.items()
    }
    mean, std = channel_stats(train_images)
    return classification_bundle(datasets, class_names, train_images.shape[1], mean, std, aug)


def classification_bundle(
    splits: dict[str, Dataset],
    class_names: list[str],
    channels: int,
    mean: list[float],
    std: list[float],
    aug: AugConfig,
    files: Optional[dict[str, list[str]]] = None,
    notes: Optional[list[str]] = None,
) -> DataBundle:
    """DataBundle for splits "train", "val" and optionally "test"; checks the pipelines on a first sample
    (so a crop that cannot fit is reported before any run directory exists) and records their output size."""
    require_splits({k: len(v) for k, v in splits.items()})
    size = pipeline_output_size(splits["train"], "training")
    pipeline_output_size(splits["val"], "validation")
    info = DataInfo(
        task="classification",
        num_classes=len(class_names),
        class_names=list(class_names),
        channels=channels,
        mean=list(mean),
        std=list(std),
        image_size=size,
        in_memory=isinstance(splits["val"], MemoryDataset),
    )
    return DataBundle(
        train=splits["train"],
        val=splits["val"],
        test=splits.get("test"),
        info=info,
        batch_transform=mix_transform(aug, len(class_names)),
        files=files or {},
        notes=notes or [],
    )


def require_splits(sizes: dict[str, int]) -> None:
    """A training or validation split without samples is bad input (``sizes``: samples per split)."""
    for name in ("train", "val"):
        if not sizes.get(name):
            raise VislabError(f"the {name} split is empty; check data.val_fraction and data.limit")


def pipeline_output_size(dataset: Dataset, what: str) -> tuple[int, int]:
    """(H, W) of the first sample after the split's augmentation; a pipeline that fails is bad input."""
    try:
        if isinstance(dataset, MemoryDataset):
            batch = {"image": dataset.images[:2].float().div(255), "target": dataset.targets[:2]}
            if dataset.augment is not None:
                batch = dataset.augment(batch, torch.Generator().manual_seed(0))
            image = batch["image"][0]
        else:
            image = dataset[(0, 0)]["image"]
    except (ValueError, RuntimeError, TypeError) as e:
        raise VislabError(f"the {what} augmentation (aug.*) fails on these images: {str(e).splitlines()[0]}") from None
    return int(image.shape[-2]), int(image.shape[-1])
