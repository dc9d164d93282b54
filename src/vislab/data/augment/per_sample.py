"""Per-sample augmentation: the executor of the augmentation plan (augment/plan.py) on torchvision.transforms.v2.

Samples are dicts; ``tv_tensors.Image`` and ``tv_tensors.Mask`` entries get the same random
parameters, so image and mask always share a crop, flip or rotation. Masks are resized and rotated
with nearest neighbours and padded or filled with the ignore index; colour ops touch images only.
Normalization is not here: the Loader does it per batch on the device.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode, v2

from ...config import AugConfig, AugMixConfig, ColorJitterConfig, RandAugmentConfig, RandomCropConfig
from ...errors import VislabError
from .plan import plan


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


def _random_crop(rc: RandomCropConfig, ctx: dict) -> v2.Transform:
    return v2.RandomCrop(size_hw(rc.size), padding=rc.padding, pad_if_needed=rc.pad_if_needed, fill=ctx["fill"],
                         padding_mode=rc.padding_mode)


def _color_jitter(cj: ColorJitterConfig, ctx: dict) -> v2.Transform:
    return v2.ColorJitter(cj.brightness, cj.contrast, cj.saturation, cj.hue)


def _randaugment(ra: RandAugmentConfig, ctx: dict) -> v2.Transform:
    if ra.magnitude >= ra.num_magnitude_bins:
        raise VislabError(f"aug.randaugment.magnitude={ra.magnitude} must be below aug.randaugment.num_magnitude_bins={ra.num_magnitude_bins}")
    return v2.RandAugment(ra.num_ops, ra.magnitude, ra.num_magnitude_bins, interpolation=ctx["interp"], fill=ctx["fill"])


def _augmix(am: AugMixConfig, ctx: dict) -> v2.Transform:
    return v2.AugMix(am.severity, am.mixture_width, am.chain_depth, am.alpha, interpolation=ctx["interp"], fill=ctx["fill"])


# aug key -> (its setting, context) -> the v2 transform; every key of augment_plan.ORDER has one
PER_SAMPLE: dict[str, Callable[[Any, dict], v2.Transform]] = {
    "resize": lambda size, ctx: v2.Resize(size_hw(size), interpolation=ctx["interp"], antialias=True),
    "random_resize": lambda scale, ctx: RandomRescale(scale, ctx["interp"]),
    "rotation": lambda degrees, ctx: v2.RandomRotation(degrees, interpolation=InterpolationMode.BILINEAR, fill=ctx["fill"]),
    "random_crop": _random_crop,
    "hflip": lambda p, ctx: v2.RandomHorizontalFlip(p),
    "vflip": lambda p, ctx: v2.RandomVerticalFlip(p),
    "center_crop": lambda size, ctx: v2.CenterCrop(size_hw(size)),
    "autoaugment": lambda aa, ctx: v2.AutoAugment(v2.AutoAugmentPolicy[aa.policy.upper()], ctx["interp"], ctx["fill"]),
    "randaugment": _randaugment,
    "trivialaugment": lambda on, ctx: v2.TrivialAugmentWide(interpolation=ctx["interp"], fill=ctx["fill"]),
    "augmix": _augmix,
    "color_jitter": _color_jitter,
    "invert": lambda p, ctx: v2.RandomInvert(p),
    "random_erasing": lambda p, ctx: v2.RandomErasing(p),
}


def build_transform(aug: AugConfig, *, train: bool, ignore_index: int = 255) -> Optional[v2.Compose]:
    """The per-sample executor of ``augment_plan.plan``: one v2 transform per operation, in the plan's
    order; evaluation keeps only the deterministic resize and center crop. None when nothing is on."""
    ctx = {"interp": InterpolationMode[aug.interpolation.upper()], "fill": fills(ignore_index)}
    ops = [PER_SAMPLE[op.key](op.value, ctx) for op in plan(aug, train=train)]
    return v2.Compose(ops) if ops else None
