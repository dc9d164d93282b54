"""Per-sample augmentation: torchvision.transforms.v2 pipelines built from ``aug.*``.

Samples are dicts; ``tv_tensors.Image`` and ``tv_tensors.Mask`` entries get the same random
parameters, so image and mask always share a crop, flip or rotation. Masks are resized and rotated
with nearest neighbours and padded or filled with the ignore index; colour ops touch images only.
Normalization is not here: the Loader does it per batch on the device.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2

from ..config import AugConfig


def size_hw(size: int | list[int]) -> list[int]:
    """An int or [H, W] as [H, W]."""
    return [size, size] if isinstance(size, int) else list(size)


def fills(ignore_index: int) -> dict[Any, Any]:
    """v2 fill values per type: masks get the ignore index, images 0."""
    return {tv_tensors.Mask: ignore_index, "others": 0}


class RandomRescale(v2.Transform):
    """Resize by a factor drawn uniformly from [low, high] (masks nearest)."""

    def __init__(self, scale: list[float], interpolation: InterpolationMode = InterpolationMode.BILINEAR) -> None:
        super().__init__()
        self.low, self.high = float(scale[0]), float(scale[-1])
        self.interpolation = interpolation

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        h, w = v2.functional.get_size(next(x for x in flat_inputs if isinstance(x, (tv_tensors.Image, torch.Tensor))))
        factor = self.low + (self.high - self.low) * float(torch.rand(()))
        return {"size": [max(1, round(h * factor)), max(1, round(w * factor))]}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, (tv_tensors.Image, tv_tensors.Mask)):
            return v2.functional.resize(inpt, params["size"], interpolation=self.interpolation, antialias=True)
        return inpt


def build_transform(aug: AugConfig, *, train: bool, ignore_index: int = 255) -> Optional[v2.Compose]:
    """The pipeline for one split: geometric ops first, then colour; evaluation keeps only the
    deterministic resize and center crop. Returns None when nothing is switched on."""
    interp = InterpolationMode[aug.interpolation.upper()]
    fill = fills(ignore_index)
    ops: list[Any] = []
    if aug.resize is not None:
        ops.append(v2.Resize(size_hw(aug.resize), interpolation=interp, antialias=True))
    if train:
        if aug.random_resize is not None:
            ops.append(RandomRescale(aug.random_resize, interp))
        if aug.rotation:
            ops.append(v2.RandomRotation(aug.rotation, interpolation=InterpolationMode.BILINEAR, fill=fill))
        if aug.random_crop is not None:
            rc = aug.random_crop
            ops.append(
                v2.RandomCrop(
                    size_hw(rc.size), padding=rc.padding, pad_if_needed=rc.pad_if_needed, fill=fill,
                    padding_mode=rc.padding_mode,
                )
            )
        if aug.hflip:
            ops.append(v2.RandomHorizontalFlip(aug.hflip))
        if aug.vflip:
            ops.append(v2.RandomVerticalFlip(aug.vflip))
    if aug.center_crop is not None:
        ops.append(v2.CenterCrop(size_hw(aug.center_crop)))
    if train:
        if aug.color_jitter is not None:
            cj = aug.color_jitter
            ops.append(v2.ColorJitter(cj.brightness, cj.contrast, cj.saturation, cj.hue))
        if aug.invert:
            ops.append(v2.RandomInvert(aug.invert))
        if aug.random_erasing:
            ops.append(v2.RandomErasing(aug.random_erasing))
    return v2.Compose(ops) if ops else None
