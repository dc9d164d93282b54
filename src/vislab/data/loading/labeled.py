"""Labeled and unlabeled training data, and bagging: ``data.labeled_per_class``, ``data.labeled_fraction``,
``data.unlabeled_root`` and ``data.bootstrap`` reshape a bundle's training split after the dataset built it.

The labeled subset is drawn from ``data.split_seed`` (like the train/val split, fixed across training
seeds); the rest of the training split becomes the unlabeled pool (its targets hidden). Validation and
test are untouched. The bootstrap draw comes from the run's own ``train.seed``, so each seed of a sweep
is one bag.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from ...config import DataConfig
from ...errors import VislabError
from ..bundle import DataBundle, DataInfo
from ..datasets import MemoryDataset, SampleDataset
from .class_balance import class_labels
from .samplers import train_sampler
from .seeding import mix_seed

_LABELED_STREAM = 1  # mixed into split_seed so the labeled draw is not the train/val draw
_BOOTSTRAP_STREAM = 2


def labeled_indices(
    labels: Optional[Sequence[int]], size: int, *, per_class: Optional[int], fraction: Optional[float], seed: int,
    class_names: Optional[Sequence[str]] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(labeled, unlabeled) positions in a training split of ``size`` samples, each sorted.

    With class ``labels`` [size] the draw is stratified: ``per_class`` samples of each class, or
    ``round(fraction * count)`` of each (at least one). Without labels (segmentation) only ``fraction``
    applies, drawn uniformly. The draw depends only on ``seed``.
    """
    rng = np.random.default_rng(mix_seed(seed, _LABELED_STREAM))
    if labels is None:
        if per_class is not None:
            raise VislabError("data.labeled_per_class needs class labels per image; use data.labeled_fraction=F here")
        order = rng.permutation(size)
        keep = order[: max(1, int(round(fraction * size)))]  # type: ignore[operator]
        return np.sort(keep), np.sort(order[len(keep):])
    groups: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        groups.setdefault(int(y), []).append(i)
    smallest = min(sorted(groups), key=lambda c: len(groups[c]))
    if per_class is not None and per_class > len(groups[smallest]):
        have = len(groups[smallest])
        name = str(class_names[smallest]) if class_names else str(smallest)
        which = f"class {smallest}" + (f" ({name})" if name != str(smallest) else "")
        raise VislabError(
            f"data.labeled_per_class={per_class}: {which} has only {have} training samples (the fewest of any class); "
            f"lower it to at most {have}"
        )
    keep: list[int] = []
    for cls in sorted(groups):
        idx = rng.permutation(np.array(groups[cls]))
        n = per_class if per_class is not None else max(1, int(round(fraction * len(idx))))  # type: ignore[operator]
        keep.extend(idx[:n].tolist())
    labeled = np.sort(np.array(keep, dtype=np.int64))
    unlabeled = np.setdiff1d(np.arange(size), labeled)
    return labeled, unlabeled


def bootstrap_indices(size: int, seed: int) -> np.ndarray:
    """``size`` positions drawn with replacement from ``seed`` (the run's train.seed): one bag."""
    return np.random.default_rng(mix_seed(seed, _BOOTSTRAP_STREAM)).integers(0, size, size)


class Subset(SampleDataset):
    """Positions ``indices`` of a per-sample split, keeping its sample seeds and its collate; ``index`` in
    each sample is the position in the subset. ``hide_target`` replaces the target with ``fill`` (an int
    for classes, a filled mask for segmentation) so an unlabeled pool cannot leak its labels; before the
    base's transform where it has one, so that a crop pads the hidden mask with the ignore index as it pads
    labels, and the padding stays apart from the image's own pixels (see hidden_target)."""

    def __init__(self, base: Dataset, indices: Sequence[int], hide_target: bool = False, fill: int = -1) -> None:
        self.base = base
        self.indices = [int(i) for i in indices]
        self.hide_target = hide_target
        self.fill = fill
        collate = getattr(base, "collate", None)
        if collate is not None:
            self.collate = collate

    @property
    def extras(self) -> dict[str, torch.Tensor]:
        """The base split's per-sample labels beside the target (``domain``), at the subset's positions."""
        return {k: v[self.indices] for k, v in getattr(self.base, "extras", {}).items()}

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: Any) -> dict:
        index, seed = key if isinstance(key, tuple) else (key, None)
        position = self.indices[index]
        if self.hide_target and isinstance(self.base, SampleDataset):
            sample = self.base.transformed(self.hidden(self.base.load(position)), position, seed)
        else:
            sample = self.base[(position, seed) if seed is not None else position]
            sample = self.hidden(sample) if self.hide_target else sample
        sample["index"] = index
        return sample


    def load(self, index: int) -> dict:
        return self.base.load(self.indices[index])  # type: ignore[attr-defined]

    def transformed(self, sample: dict, index: int, seed: Optional[int] = None) -> dict:
        """As the base transforms its sample ``self.indices[index]`` (a subset of a subset hides before it too)."""
        return self.base.transformed(sample, self.indices[index], seed)  # type: ignore[attr-defined]

    def hidden(self, sample: dict) -> dict:
        """``sample`` with its target replaced by ``fill`` (a mask keeps its shape and type)."""
        target = sample["target"]
        filled = torch.full_like(target, self.fill) if torch.is_tensor(target) else self.fill
        return {**sample, "target": tv_tensors.wrap(filled, like=target) if isinstance(target, tv_tensors.Mask) else filled}


def hidden_target(info: DataInfo, per_pixel: bool) -> int:
    """The target value of an unlabeled sample: -1 for a class, and per pixel the first value that is neither
    a class id nor the ignore index, so a pixel of the image (label hidden) stays apart from padding (the
    ignore index) through every crop and collate; no class id, so a loss that took it for a label fails loudly."""
    if not per_pixel:
        return -1
    return info.num_classes if info.num_classes != info.ignore_index else info.num_classes + 1


def subset(dataset: Dataset, indices: np.ndarray, hide_target: bool = False, fill: int = -1) -> Dataset:
    """Positions ``indices`` of a split, on the same path (in memory stays in memory)."""
    if isinstance(dataset, MemoryDataset):
        part = dataset.subset(torch.from_numpy(np.asarray(indices, dtype=np.int64)))
        if hide_target:
            part.targets = torch.full_like(part.targets, fill)
        return part
    return Subset(dataset, indices, hide_target, fill)


def split_labeled(bundle: DataBundle, cfg: DataConfig) -> DataBundle:
    """The bundle with ``train`` cut to its labeled subset and ``unlabeled`` holding the rest (plus
    ``data.unlabeled_root``); splits/labeled.txt and splits/unlabeled.txt name their samples."""
    if cfg.labeled_per_class is None and cfg.labeled_fraction is None:
        if cfg.unlabeled_root is None:
            return bundle
        return dataclasses.replace(bundle, unlabeled=unlabeled_folder(bundle, cfg))
    if cfg.labeled_per_class is not None and cfg.labeled_fraction is not None:
        raise VislabError("set data.labeled_per_class or data.labeled_fraction, not both")
    if cfg.repeat:
        raise VislabError("data.repeat cannot be combined with a labeled subset; set data.repeat=null")
    info = bundle.info
    labels = class_labels(bundle.train, info.task)
    labeled, unlabeled = labeled_indices(
        labels, len(bundle.train), per_class=cfg.labeled_per_class, fraction=cfg.labeled_fraction, seed=cfg.split_seed,
        class_names=info.class_names,
    )
    fill = hidden_target(info, per_pixel=labels is None)
    pool = subset(bundle.train, unlabeled, hide_target=True, fill=fill) if len(unlabeled) else None
    if cfg.unlabeled_root is not None:
        extra = unlabeled_folder(bundle, cfg)
        pool = extra if pool is None else concatenated(pool, extra)
    names = bundle.files.get("train") or [str(i) for i in range(len(bundle.train))]
    files = {**bundle.files, "labeled": [names[i] for i in labeled], "unlabeled": [names[i] for i in unlabeled]}
    if "train" in bundle.files:
        files["train"] = files["labeled"]
    note = f"{len(labeled)} labeled and {len(unlabeled)} unlabeled training samples (data.split_seed={cfg.split_seed})"
    return dataclasses.replace(
        bundle, train=subset(bundle.train, labeled), unlabeled=pool, files=files, notes=[*bundle.notes, note]
    )


def bootstrapped(bundle: DataBundle, cfg: DataConfig, seed: int) -> DataBundle:
    """With ``data.bootstrap``, the (labeled) training split resampled with replacement from ``seed``."""
    if not cfg.bootstrap:
        return bundle
    draw = bootstrap_indices(len(bundle.train), seed)
    distinct = len(np.unique(draw))
    note = f"bootstrap sample of the training split (train.seed={seed}): {distinct} of {len(draw)} distinct samples"
    bag = dataclasses.replace(bundle, train=subset(bundle.train, draw), notes=[*bundle.notes, note])
    bag.train_sampler = train_sampler(cfg, bag)  # a domain-balanced sampler reads the domains of the bag's samples
    return bag


def concatenated(first: Dataset, second: Dataset) -> Dataset:
    """Two unlabeled pools as one; both in memory stays in memory."""
    if isinstance(first, MemoryDataset) and isinstance(second, MemoryDataset):
        return MemoryDataset(
            torch.cat([first.images, second.images]), torch.cat([first.targets, second.targets]), augment=first.augment
        )
    raise VislabError("data.unlabeled_root adds images to in-memory splits only; set data.in_memory=true or leave it out")


def unlabeled_folder(bundle: DataBundle, cfg: DataConfig) -> Dataset:
    """The images under ``data.unlabeled_root``, converted to the training images' channels and resized to
    their size, as an in-memory pool with hidden targets."""
    from ..files.images import convert_channels, image_files, read_image, unreadable_errors

    root = Path(cfg.unlabeled_root).expanduser()  # type: ignore[arg-type]
    if not root.is_dir():
        raise VislabError(f"data.unlabeled_root={root} is not a folder")
    train = bundle.train
    if not isinstance(train, MemoryDataset):
        raise VislabError("data.unlabeled_root adds images to in-memory splits only; set data.in_memory=true or leave it out")
    size = tuple(train.images.shape[-2:])
    images = []
    for path in image_files([root]):
        try:
            image = read_image(path, None)
        except unreadable_errors() as e:
            raise VislabError(f"cannot read image {path} in data.unlabeled_root: {e}") from None
        image = convert_channels(image[None], bundle.info.channels)
        images.append(torch.nn.functional.interpolate(image.float(), size=size, mode="bilinear", antialias=True)
                      .round().clamp(0, 255).to(torch.uint8))
    stacked = torch.cat(images)
    fill = hidden_target(bundle.info, per_pixel=train.targets.ndim > 1)
    targets = torch.full((len(stacked), *train.targets.shape[1:]), fill, dtype=train.targets.dtype)
    return MemoryDataset(stacked, targets, augment=train.augment)
