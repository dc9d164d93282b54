"""Test-time augmentation: predictions averaged over horizontal flips and input scales (``eval.tta.*``).

Each augmented view's output maps are brought back to the input's frame at full resolution before the
average: flipped back, resized to the input size, and, for the panoptic offsets (dy, dx), the vector
turned and stretched like the image (dx negated under a flip, both divided by the scale). Logits are
averaged, as MMSegmentation and detectron2 do.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

Maps = dict[str, torch.Tensor]
OFFSET = "offset"  # the output whose channels are a (dy, dx) vector in pixels, not a score


def describe(flip: bool, scales: Sequence[float]) -> dict:
    """The TTA as the eval JSON records it."""
    return {"flip": bool(flip), "scales": [float(s) for s in scales]}


def flip_back(maps: Maps) -> Maps:
    """Maps [B, C, H, W] of a horizontally flipped input, in the original frame."""
    out = {key: value.flip(-1) for key, value in maps.items()}
    if OFFSET in out:
        out[OFFSET] = out[OFFSET] * out[OFFSET].new_tensor([1.0, -1.0]).view(1, 2, 1, 1)
    return out


def scale_back(maps: Maps, size: tuple[int, int], scale: float) -> Maps:
    """Maps [B, C, h, w] of an input resized by ``scale``, bilinearly at ``size`` (offsets divided by it)."""
    out = {}
    for key, value in maps.items():
        value = value.float()
        if tuple(value.shape[-2:]) != tuple(size):
            value = F.interpolate(value, size=size, mode="bilinear", align_corners=False)
        out[key] = value / scale if key == OFFSET else value
    return out


def rescale(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Images [B, C, H, W] resized by ``scale`` (bilinear; antialiased when shrinking)."""
    if scale == 1.0:
        return x
    size = [max(1, round(n * scale)) for n in x.shape[-2:]]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)


def segmentation_tta(infer: Callable[[torch.Tensor], Maps], x: torch.Tensor, flip: bool, scales: Sequence[float]) -> Maps:
    """The mean of ``infer``'s maps over every (scale, flip) view of images [B, C, H, W], each at the input's
    full resolution [B, *, H, W]. ``infer`` is whole-image or sliding-window inference, so TTA composes with both."""
    size = tuple(x.shape[-2:])
    total: Maps = {}
    views = 0
    for scale in scales:
        scaled = rescale(x, scale)
        for flipped in (False, True) if flip else (False,):
            maps = infer(scaled.flip(-1) if flipped else scaled)
            maps = scale_back(flip_back(maps) if flipped else maps, size, scale)
            for key, value in maps.items():
                total[key] = total[key] + value if key in total else value
            views += 1
    return {key: value / views for key, value in total.items()}


def mean_outputs(a: Any, b: Any) -> Any:
    """The mean of two model outputs: tensors averaged (as float), mappings key by key, anything else
    taken from ``a`` (e.g. a domain-generalization model's list of style mixings)."""
    if torch.is_tensor(a):
        return (a.float() + b.float()) / 2
    if isinstance(a, dict):
        return {key: mean_outputs(value, b[key]) for key, value in a.items()}
    return a


def classification_tta(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, flip: bool) -> torch.Tensor:
    """Logits [B, K] of images [B, C, H, W], averaged with those of the flipped images when ``flip``."""
    logits = forward(x)
    return mean_outputs(logits, forward(x.flip(-1))) if flip else logits
