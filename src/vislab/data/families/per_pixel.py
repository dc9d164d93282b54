"""What the segmentation datasets share: reading images and masks, mapping raw mask values to classes,
per-sample splits with joint transforms, the training repeat (``data.repeat``), and a collate that pads
images of different sizes.

A segmentation sample is ``{"image": uint8 [C,H,W], "target": [H,W] class ids, ignore_index where
ignored, "index": int}``; batches add ``size``, int64 [B, 2], each image's own (H, W) before padding.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, default_collate
from torchvision import tv_tensors
from torchvision.transforms import v2

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..augment.per_sample import build_transform
from ..bundle import DataBundle, DataInfo
from ..datasets import SampleDataset
from ..files.images import GRAY_MODES, image_mode, read_image, unreadable_errors

# ------------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------------


def _open(path: Path) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except (OSError, UnidentifiedImageError) as e:
        raise VislabError(f"cannot read image {path}: {e}") from None


def stored_channels(path: Path) -> int:
    """1 for a grayscale file, else 3."""
    with _open(path) as im:
        return 1 if im.mode in GRAY_MODES else 3


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) from the file's header, without decoding it."""
    with _open(path) as im:
        return im.height, im.width


def load_image(path: Path, channels: int) -> torch.Tensor:
    """An image file as uint8 [channels, H, W] (converted to grayscale or RGB); a bad file is bad input."""
    try:
        return read_image(path, image_mode(channels))
    except unreadable_errors() as e:
        raise VislabError(f"cannot read image {path}: {e}") from None


def read_mask(path: Path) -> np.ndarray:
    """A mask file's raw values [H, W]: palette PNGs give their indices, grayscale files their values."""
    with _open(path) as im:
        if im.mode not in ("P", *GRAY_MODES):
            raise VislabError(f"mask {path} has colour channels ({im.mode}); store class ids as a grayscale or palette image")
        try:
            return np.asarray(im)
        except OSError as e:
            raise VislabError(f"cannot decode mask {path}: {e}") from None


class MaskValues:
    """Raw mask values -> class ids: ``mask_values`` first, then values that are class ids or the
    ignore index pass unchanged; anything else is bad input naming the file."""

    def __init__(self, num_classes: int, ignore_index: int, mask_values: Optional[dict[int, int]] = None) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.mapping = dict(mask_values or {})
        for raw, cls in self.mapping.items():
            if not (0 <= cls < num_classes or cls == ignore_index):
                raise VislabError(f"data.mask_values maps {raw} to {cls}, which is neither a class id (0..{num_classes - 1}) nor the ignore index")
        top = max([255, ignore_index, *self.mapping])
        lut = np.full(top + 1, -1, dtype=np.int64)
        lut[:num_classes] = np.arange(num_classes)
        lut[ignore_index] = ignore_index
        for raw, cls in self.mapping.items():
            lut[raw] = cls
        self.lut = lut

    def invalid(self, values: np.ndarray) -> list[int]:
        """The raw values among ``values`` that map to nothing."""
        values = np.asarray(values, dtype=np.int64)
        outside = (values < 0) | (values >= len(self.lut))
        bad = outside | (self.lut[np.clip(values, 0, len(self.lut) - 1)] < 0)
        return sorted(int(v) for v in values[bad])

    def check(self, values: np.ndarray, path: Path) -> None:
        bad = self.invalid(values)
        if bad:
            shown = ", ".join(map(str, bad[:8])) + (" ..." if len(bad) > 8 else "")
            raise VislabError(
                f"mask {path} holds values {shown} that are neither in data.mask_values, class ids "
                f"(0..{self.num_classes - 1}) nor the ignore index {self.ignore_index}; map them with "
                f"data.mask_values (e.g. 'data.mask_values={{0: 0, 255: 1}}')"
            )

    def __call__(self, raw: np.ndarray) -> torch.Tensor:
        """Class ids uint8 [H, W] (values already checked)."""
        return torch.from_numpy(self.lut[raw].astype(np.uint8))


def mask_value_set(raw: np.ndarray) -> np.ndarray:
    """The distinct values of a mask."""
    if raw.dtype == np.uint8:
        return np.flatnonzero(np.bincount(raw.ravel(), minlength=256))
    return np.unique(raw)


# ------------------------------------------------------------------------------------------------
# splits
# ------------------------------------------------------------------------------------------------


class SegmentationFiles(SampleDataset):
    """A split of (image file, mask file) pairs; images converted to ``channels``, masks through ``values``.
    ``instances``, one instance-id mask file per pair, adds ``instance`` [H,W] (0: none), transformed
    with the mask."""

    def __init__(self, pairs: Sequence[tuple[Path, Path]], channels: int, values: MaskValues,
                 transform: Optional[Callable] = None, instances: Optional[Sequence[Path]] = None) -> None:
        self.pairs = list(pairs)
        self.channels = channels
        self.values = values
        self.transform = transform
        self.instances = list(instances) if instances is not None else None
        self.collate = functools.partial(pad_collate, ignore_index=values.ignore_index)

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, index: int) -> dict:
        image, mask = self.pairs[index]
        sample = {"image": tv_tensors.Image(load_image(image, self.channels)), "target": tv_tensors.Mask(self.values(read_mask(mask)))}
        if self.instances is not None:
            sample["instance"] = tv_tensors.Mask(read_instances(self.instances[index]))
        return sample


def read_instances(path: Path) -> torch.Tensor:
    """An instance-id mask file as [H, W] ids (uint8, or int32 for 16-bit files); 0 is no instance."""
    raw = read_mask(path)
    return torch.from_numpy(raw.astype(np.uint8 if raw.dtype == np.uint8 else np.int32))


class TensorSamples(SampleDataset):
    """A split held as tensors but transformed per sample: ``images`` uint8 [N,C,H,W], ``targets`` [N,H,W],
    ``extras`` other per-pixel maps [N,H,W] (instance ids) that follow the same geometry."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, extras: Optional[dict[str, torch.Tensor]] = None,
                 transform: Optional[Callable] = None, ignore_index: int = 255) -> None:
        self.images, self.targets, self.extras = images, targets, extras or {}
        self.transform = transform
        self.collate = functools.partial(pad_collate, ignore_index=ignore_index)

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> dict:
        sample = {"image": tv_tensors.Image(self.images[index]), "target": tv_tensors.Mask(self.targets[index])}
        sample.update({k: tv_tensors.Mask(v[index]) for k, v in self.extras.items()})
        return sample


class Passes(Dataset):
    """The training repeat: one pass over ``base`` per transform, concatenated. Item ``p * len(base) + i`` is
    base item ``i`` under transform ``p``; its augmentation seed is its own, so every pass differs."""

    def __init__(self, base: SampleDataset, transforms: Sequence[Optional[Callable]]) -> None:
        self.parts = []
        for transform in transforms:
            part = copy.copy(base)
            part.transform = transform
            self.parts.append(part)
        self.size = len(base)
        self.collate = getattr(base, "collate", default_collate)

    def __len__(self) -> int:
        return self.size * len(self.parts)

    def __getitem__(self, key: Any) -> dict:
        index, seed = key if isinstance(key, tuple) else (key, None)
        part, local = divmod(index, self.size)
        sample = self.parts[part][(local, seed) if seed is not None else local]
        sample["index"] = index
        return sample


def training_transforms(cfg: DataConfig, aug: AugConfig) -> list[Optional[Callable]]:
    """One transform per training pass: each ``data.repeat`` set followed by ``aug``; just ``aug`` without repeat."""
    common = build_transform(aug, train=True, ignore_index=cfg.ignore_index)
    if not cfg.repeat:
        return [common]
    passes = []
    for i, each in enumerate(cfg.repeat):
        if each.cutmix is not None or each.mixup is not None:
            raise VislabError(f"data.repeat[{i}]: cutmix and mixup act per batch, not per pass; set them under aug")
        ops = [t for t in (build_transform(each, train=True, ignore_index=cfg.ignore_index), common) if t is not None]
        passes.append(v2.Compose(ops) if ops else None)
    return passes


def augmented_train(base: SampleDataset, cfg: DataConfig, aug: AugConfig) -> Dataset:
    """The training split under its transforms; splitting has already happened, so no validation image is
    ever seen in a transformed copy."""
    transforms = training_transforms(cfg, aug)
    if len(transforms) == 1:
        base.transform = transforms[0]
        return base
    return Passes(base, transforms)


def pad_collate(samples: list[dict], ignore_index: int = 255) -> dict:
    """Samples -> a batch, images and per-pixel maps padded at the bottom and right to the largest
    (H, W): images with 0, ``target`` with ``ignore_index``, other maps with 0. ``target`` becomes int64
    [B,H,W]; ``size`` int64 [B,2] keeps each sample's own (H, W)."""
    height = max(s["image"].shape[-2] for s in samples)
    width = max(s["image"].shape[-1] for s in samples)
    sizes = torch.tensor([list(s["image"].shape[-2:]) for s in samples], dtype=torch.int64)
    padded = []
    for s in samples:
        h, w = s["image"].shape[-2:]
        out = dict(s)
        for key, value in s.items():
            if torch.is_tensor(value) and value.ndim >= 2 and tuple(value.shape[-2:]) == (h, w):
                fill = ignore_index if key == "target" else 0
                out[key] = F.pad(value, (0, width - w, 0, height - h), value=fill) if (h, w) != (height, width) else value
        padded.append(out)
    batch = default_collate(padded)
    batch["target"] = batch["target"].long()
    batch["size"] = sizes
    return batch


def relative_names(pairs: Sequence[tuple[Path, ...]], root: Path) -> list[str]:
    """The image files of a split (each item's first path), relative to the dataset root (what
    splits/<split>.txt lists)."""
    return [str(item[0].relative_to(root)) if item[0].is_relative_to(root) else str(item[0]) for item in pairs]


def split_bundle(cfg: DataConfig, aug: AugConfig, splits: dict[str, list], make: Callable[[list, Optional[Callable]], SampleDataset],
                 info: DataInfo, root: Path) -> DataBundle:
    """The bundle of per-sample splits ("train", "val", optionally "test"): ``make(items, transform)``
    builds one split from its items (each an image path first); training gets ``data.repeat`` and
    ``aug``, the others the evaluation transform."""
    eval_transform = build_transform(aug, train=False, ignore_index=info.ignore_index)
    return DataBundle(
        train=augmented_train(make(splits["train"], None), cfg, aug),
        val=make(splits["val"], eval_transform),
        test=make(splits["test"], eval_transform) if splits.get("test") else None,
        info=info,
        files={name: relative_names(items, root) for name, items in splits.items()},
    )
