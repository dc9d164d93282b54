"""Augmentation of in-memory splits, per batch on the device (the fast path)."""

from __future__ import annotations

from typing import Callable, Optional

from ..config import AugConfig
from ..errors import VislabError

_PER_SAMPLE_ONLY = ("rotation", "random_crop", "resize", "random_resize", "center_crop", "hflip", "vflip",
                    "color_jitter", "invert", "random_erasing")


def augment_for_memory(aug: AugConfig, task: str) -> Optional[Callable]:
    """``augment(batch, generator) -> batch`` for an in-memory training split, or None when nothing is on."""
    on = [k for k in _PER_SAMPLE_ONLY if getattr(aug, k) is not None]
    if on:
        raise VislabError(f"aug.{on[0]} is not available for in-memory datasets yet; set aug.{on[0]}=null")
    return None
