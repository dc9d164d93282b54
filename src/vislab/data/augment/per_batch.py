"""Augmentation of in-memory splits, per batch on the device (the fast path).

The executor of the augmentation plan (augment/plan.py) that augment/per_sample.py executes per sample, in the
same order, applied to a whole batch at once: every sample
draws its own parameters from the batch's generator. Crops and padding are index gathers, rotation an
affine grid. For tasks other than classification the target is a mask [B, H, W] that follows the
geometry with nearest neighbours, filled with the ignore index, and so do instance ids (``instance``). Images are float [B, C, H, W] in [0, 1].
Colour jitter applies brightness, contrast, saturation and hue in that fixed order (torchvision draws an
order per sample).
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from ...config import AugConfig, RandomCropConfig
from ...errors import VislabError
from .per_sample import size_hw
from .plan import plan

BatchOp = Callable[[dict, torch.Generator], dict]
MASK_KEYS = ("mask", "instance")  # per-pixel maps that follow the image's geometry


def mask_keys(batch: dict) -> list[str]:
    """The per-pixel label maps present in ``batch``."""
    return [k for k in MASK_KEYS if k in batch]


def memory_unsupported(aug: AugConfig, repeat: Optional[list] = None) -> list[str]:
    """The settings of a training split that in-memory batches cannot do (each runs per sample only):
    plan operations without a per-batch op, and ``data.repeat``'s passes."""
    keys = [f"aug.{op.key}" for op in plan(aug, train=True) if op.key not in PER_BATCH]
    return keys + (["data.repeat"] if repeat else [])


def augment_for_memory(
    aug: AugConfig, task: str = "classification", *, train: bool = True, ignore_index: int = 255
) -> Optional[Callable[[dict, torch.Generator], dict]]:
    """The per-batch executor of ``augment_plan.plan``: ``augment(batch, generator) -> batch`` for an
    in-memory split, or None when nothing is on. Training gets every operation of the plan; evaluation
    the deterministic resize and center crop. An operation without a per-batch op is a bug here: the
    split should have gone per sample (``augment_plan.runs_in_memory``)."""
    steps = plan(aug, train=train)
    missing = [op.key for op in steps if op.key not in PER_BATCH]
    if missing:
        raise ValueError(f"aug.{missing[0]} has no per-batch op; runs_in_memory should have sent the split per sample")
    ops = [PER_BATCH[op.key](op.value, aug, ignore_index) for op in steps]
    return BatchAugment(ops, masks=task != "classification") if ops else None


class BatchAugment:
    """The ops in order; while they run, ``batch["mask"]`` holds the target when it is a mask."""

    def __init__(self, ops: list[BatchOp], masks: bool) -> None:
        self.ops = ops
        self.masks = masks

    def __call__(self, batch: dict, generator: torch.Generator) -> dict:
        batch = dict(batch)
        if self.masks:
            batch["mask"] = batch.pop("target")
        for op in self.ops:
            batch = op(batch, generator)
        if self.masks:
            batch["target"] = batch.pop("mask")
        return batch

    def __repr__(self) -> str:
        return f"BatchAugment({', '.join(type(op).__name__ for op in self.ops)})"


def resize_batch(batch: dict, size: list[int]) -> dict:
    """``batch`` with images resized (bilinear) to [H, W] = ``size``, and a [B, H, W] target and instance
    ids with nearest neighbours: progressive resizing after any augmentation."""
    return BatchAugment([Resize(size, "bilinear")], masks=batch["target"].ndim == 3)(batch, None)


# ------------------------------------------------------------------------------------------------
# random numbers, one per sample
# ------------------------------------------------------------------------------------------------


def uniform(g: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    """[n] floats uniform in [low, high) from ``g``, on its device."""
    return low + (high - low) * torch.rand(n, generator=g, device=g.device)


def coin(g: torch.Generator, n: int, p: float) -> torch.Tensor:
    """[n] booleans, each True with probability p."""
    return torch.rand(n, generator=g, device=g.device) < p


def integers(g: torch.Generator, n: int, high: torch.Tensor | int) -> torch.Tensor:
    """[n] int64 uniform in [0, high) (``high`` per sample or shared)."""
    return (torch.rand(n, generator=g, device=g.device) * high).floor().long()


# ------------------------------------------------------------------------------------------------
# geometry
# ------------------------------------------------------------------------------------------------


def source_index(i: torch.Tensor, size: int, mode: str) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Map coordinates ``i`` (possibly outside [0, size)) into the image by padding ``mode``.

    Returns (indices within [0, size), validity mask for constant padding or None).
    """
    if mode == "constant":
        valid = (i >= 0) & (i < size)
        return i.clamp(0, size - 1), valid
    if mode == "edge" or size == 1:
        return i.clamp(0, size - 1), None
    if mode == "reflect":  # ... 2 1 | 0 1 2 ... the edge is not repeated
        period = 2 * (size - 1)
        i = torch.remainder(i, period)
        return torch.where(i >= size, period - i, i), None
    period = 2 * size  # symmetric: ... 1 0 | 0 1 ... the edge is repeated
    i = torch.remainder(i, period)
    return torch.where(i >= size, period - 1 - i, i), None


def crop(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, h: int, w: int, mode: str, fill: float) -> torch.Tensor:
    """Per-sample windows [B, C, h, w] of ``x`` [B, C, H, W] at (top, left), which may lie outside the
    image: outside pixels come from ``mode`` padding (constant: ``fill``)."""
    B, _, H, W = x.shape
    rows = top[:, None] + torch.arange(h, device=x.device)
    cols = left[:, None] + torch.arange(w, device=x.device)
    rows, row_ok = source_index(rows, H, mode)
    cols, col_ok = source_index(cols, W, mode)
    b = torch.arange(B, device=x.device)[:, None, None]
    out = x[b, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # advanced dims come first
    if row_ok is not None:
        inside = (row_ok[:, :, None] & col_ok[:, None, :])[:, None]
        out = torch.where(inside, out, torch.full((), fill, dtype=out.dtype, device=out.device))
    return out


def crop_batch(batch: dict, top: torch.Tensor, left: torch.Tensor, h: int, w: int, mode: str, ignore_index: int) -> dict:
    """``crop`` on the image (padded with 0) and the mask (padded with the ignore index)."""
    batch["image"] = crop(batch["image"], top, left, h, w, mode, 0.0)
    for key in mask_keys(batch):
        batch[key] = crop(batch[key][:, None], top, left, h, w, mode, ignore_index)[:, 0]
    return batch


class Resize:
    def __init__(self, size: list[int], interpolation: str) -> None:
        self.size = size
        self.mode = interpolation

    def __call__(self, batch: dict, g: torch.Generator) -> dict:
        x = batch["image"]
        if list(x.shape[-2:]) == self.size:
            return batch
        smooth = self.mode != "nearest"
        shrinks = self.size[0] < x.shape[-2] or self.size[1] < x.shape[-1]  # antialiasing only matters then
        options = {"align_corners": False, "antialias": shrinks} if smooth else {}
        x = F.interpolate(x, size=self.size, mode=self.mode, **options)
        batch["image"] = x.clamp_(0, 1) if self.mode == "bicubic" else x
        for key in mask_keys(batch):
            batch[key] = F.interpolate(batch[key][:, None].float(), size=self.size, mode="nearest")[:, 0].long()
        return batch


class Rotate:
    """Rotation by an angle uniform in [-degrees, degrees] about the centre; corners filled with 0."""

    def __init__(self, degrees: float, ignore_index: int) -> None:
        self.degrees = abs(float(degrees))
        self.ignore_index = ignore_index

    def __call__(self, batch: dict, g: torch.Generator) -> dict:
        x = batch["image"]
        B, _, H, W = x.shape
        angle = uniform(g, B, -self.degrees, self.degrees) * (math.pi / 180)
        cos, sin = angle.cos(), angle.sin()
        # A rotation in pixel units, expressed in affine_grid's [-1, 1] coordinates (aspect-corrected).
        theta = torch.stack(
            [torch.stack([cos, -sin * H / W, torch.zeros_like(cos)], 1), torch.stack([sin * W / H, cos, torch.zeros_like(cos)], 1)],
            1,
        )
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        batch["image"] = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        for key in mask_keys(batch):
            shifted = batch[key][:, None].float() + 1  # 0 marks outside, then becomes the ignore index
            m = F.grid_sample(shifted, grid, mode="nearest", padding_mode="zeros", align_corners=False)[:, 0].long()
            batch[key] = torch.where(m == 0, self.ignore_index, m - 1)
        return batch


def padding_ltrb(padding: int | list[int] | None) -> tuple[int, int, int, int]:
    """torchvision's padding forms (int, [left/right, top/bottom], [left, top, right, bottom]) as 4 ints."""
    if padding is None:
        return 0, 0, 0, 0
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 1:
        return (padding[0],) * 4  # type: ignore[return-value]
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    return tuple(padding[:4])  # type: ignore[return-value]


class RandomCrop:
    """torchvision's RandomCrop: pad (constant, edge, reflect or symmetric), then a random window."""

    def __init__(self, cfg: RandomCropConfig, ignore_index: int) -> None:
        self.h, self.w = size_hw(cfg.size)
        self.ignore_index = ignore_index
        self.pad = padding_ltrb(cfg.padding)
        self.mode = cfg.padding_mode
        self.pad_if_needed = cfg.pad_if_needed

    def __call__(self, batch: dict, g: torch.Generator) -> dict:
        B, _, H, W = batch["image"].shape
        left, top, right, bottom = self.pad
        if self.pad_if_needed:  # as torchvision: the shortfall is added on both sides
            dh, dw = max(0, self.h - (H + top + bottom)), max(0, self.w - (W + left + right))
            top, bottom, left, right = top + dh, bottom + dh, left + dw, right + dw
        span_h, span_w = H + top + bottom - self.h + 1, W + left + right - self.w + 1
        if span_h < 1 or span_w < 1:
            raise VislabError(
                f"aug.random_crop size {self.h}x{self.w} is larger than the padded {H + top + bottom}x{W + left + right} "
                "images; lower it, add aug.random_crop.padding, or set aug.random_crop.pad_if_needed=true"
            )
        top_left = integers(g, B, span_h) - top, integers(g, B, span_w) - left
        return crop_batch(batch, *top_left, self.h, self.w, self.mode, self.ignore_index)


class CenterCrop:
    """torchvision's CenterCrop: the central window, padded with 0 where the image is smaller."""

    def __init__(self, size: list[int], ignore_index: int) -> None:
        self.h, self.w = size
        self.ignore_index = ignore_index

    def __call__(self, batch: dict, g: torch.Generator) -> dict:
        B, _, H, W = batch["image"].shape
        if (H, W) == (self.h, self.w):
            return batch
        device = batch["image"].device
        top = torch.full((B,), int(round((H - self.h) / 2.0)), device=device)
        left = torch.full((B,), int(round((W - self.w) / 2.0)), device=device)
        return crop_batch(batch, top, left, self.h, self.w, "constant", self.ignore_index)


class Flip:
    def __init__(self, p: float, dim: int) -> None:
        self.p = p
        self.dim = dim

    def __call__(self, batch: dict, g: torch.Generator) -> dict:
        x = batch["image"]
        flip = coin(g, x.shape[0], self.p)
        batch["image"] = torch.where(flip[:, None, None, None], x.flip(self.dim), x)
        for key in mask_keys(batch):
            batch[key] = torch.where(flip[:, None, None], batch[key].flip(self.dim), batch[key])
        return batch


# ------------------------------------------------------------------------------------------------
# colour (images only)
# ------------------------------------------------------------------------------------------------


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """[B, 1, H, W] luminance of [B, C, H, W] (ITU-R 601 weights for colour, the image itself for gray)."""
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return 0.2989 * r + 0.587 * g + 0.114 * b


def blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """factor * x + (1 - factor) * other, clamped to [0, 1] (factor per sample [B])."""
    f = factor.view(-1, 1, 1, 1)
    return (f * x + (1 - f) * other).clamp_(0, 1)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] RGB in [0, 1] -> HSV, hue in [0, 1)."""
    r, g, b = x.unbind(1)
    maxc, minc = x.amax(1), x.amin(1)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / maxc.clamp_min(1e-12), torch.zeros_like(maxc))
    d = delta.clamp_min(1e-12)
    h = torch.where(maxc == r, (g - b) / d, torch.where(maxc == g, 2 + (b - r) / d, 4 + (r - g) / d))
    h = torch.where(delta > 0, torch.remainder(h / 6, 1.0), torch.zeros_like(h))
    return torch.stack([h, s, maxc], 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of ``rgb_to_hsv``."""
    h, s, v = x.unbind(1)
    h6 = h * 6
    sector = torch.remainder(h6.floor(), 6).long()
    f = h6 - h6.floor()
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    # (r, g, b) for each of the six hue sectors
    table = torch.stack([torch.stack(c, 0) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))], 0)
    return table.gather(0, sector[None, None].expand(1, 3, *sector.shape))[0].permute(1, 0, 2, 3)


class ColorJitter:
    def __init__(self, brightness: float, contrast: float, saturation: float, hue: float) -> None:
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue

    def __call__(self, batch: dict, g: torch.Generator) -> dict:
        x = batch["image"]
        B = x.shape[0]
        if self.brightness:
            x = blend(x, torch.zeros_like(x), uniform(g, B, max(0.0, 1 - self.brightness), 1 + self.brightness))
        if self.contrast:
            mean = grayscale(x).mean((1, 2, 3), keepdim=True)
            x = blend(x, mean.expand_as(x), uniform(g, B, max(0.0, 1 - self.contrast), 1 + self.contrast))
        if x.shape[1] == 3 and self.saturation:
            x = blend(x, grayscale(x).expand_as(x), uniform(g, B, max(0.0, 1 - self.saturation), 1 + self.saturation))
        if x.shape[1] == 3 and self.hue:
            hsv = rgb_to_hsv(x)
            shift = uniform(g, B, -self.hue, self.hue).view(-1, 1, 1)
            hsv = torch.stack([torch.remainder(hsv[:, 0] + shift, 1.0), hsv[:, 1], hsv[:, 2]], 1)
            x = hsv_to_rgb(hsv)
        batch["image"] = x
        return batch


class Invert:
    def __init__(self, p: float) -> None:
        self.p = p

    def __call__(self, batch: dict, g: torch.Generator) -> dict:
        x = batch["image"]
        batch["image"] = torch.where(coin(g, x.shape[0], self.p)[:, None, None, None], 1 - x, x)
        return batch


class RandomErasing:
    """torchvision's RandomErasing defaults: area 2-33% of the image, aspect 0.3-3.3, erased to 0."""

    scale = (0.02, 0.33)
    log_ratio = (math.log(0.3), math.log(3.3))

    def __init__(self, p: float) -> None:
        self.p = p

    def __call__(self, batch: dict, g: torch.Generator) -> dict:
        x = batch["image"]
        B, _, H, W = x.shape
        erase = random_boxes(g, B, H, W, self.scale, self.log_ratio) & coin(g, B, self.p)[:, None, None]
        batch["image"] = x.masked_fill(erase[:, None], 0.0)
        return batch


def random_boxes(
    g: torch.Generator, n: int, height: int, width: int, area: tuple[float, float], log_ratio: tuple[float, float]
) -> torch.Tensor:
    """bool [n, H, W]: one box per sample, its area a share uniform in ``area`` of the image, its log aspect
    ratio uniform in ``log_ratio``, placed uniformly where it fits (RandomErasing's and CutMix's draw)."""
    size = uniform(g, n, *area) * (height * width)
    ratio = uniform(g, n, *log_ratio).exp()
    bh = (size * ratio).sqrt().round().clamp(1, height).long()
    bw = (size / ratio).sqrt().round().clamp(1, width).long()
    top, left = integers(g, n, height - bh + 1), integers(g, n, width - bw + 1)
    rows = torch.arange(height, device=g.device)[None]
    cols = torch.arange(width, device=g.device)[None]
    in_rows = (rows >= top[:, None]) & (rows < (top + bh)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + bw)[:, None])
    return in_rows[:, :, None] & in_cols[:, None, :]


def _color_jitter(cj, aug: AugConfig, ignore_index: int) -> ColorJitter:
    return ColorJitter(cj.brightness, cj.contrast, cj.saturation, cj.hue)


# aug key -> (its setting, the aug section, ignore index) -> the batch op. Keys of augment_plan.ORDER missing
# here (random_resize: a size per sample; the policies) run per sample only.
PER_BATCH: dict[str, Callable[[object, AugConfig, int], BatchOp]] = {
    "resize": lambda size, aug, ignore: Resize(size_hw(size), aug.interpolation),
    "rotation": lambda degrees, aug, ignore: Rotate(degrees, ignore),
    "random_crop": lambda rc, aug, ignore: RandomCrop(rc, ignore),
    "hflip": lambda p, aug, ignore: Flip(p, dim=-1),
    "vflip": lambda p, aug, ignore: Flip(p, dim=-2),
    "center_crop": lambda size, aug, ignore: CenterCrop(size_hw(size), ignore),
    "color_jitter": _color_jitter,
    "invert": lambda p, aug, ignore: Invert(p),
    "random_erasing": lambda p, aug, ignore: RandomErasing(p),
}
