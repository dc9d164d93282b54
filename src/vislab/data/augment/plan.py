"""One augmentation plan from ``aug.*``: which operations run, in which order, for training or evaluation.

Two executors build from the same plan: per sample (augment/per_sample.py, torchvision.transforms.v2 in
DataLoader workers) and per batch (augment/per_batch.py, in-memory splits on the device). Where a split
runs is decided once, in ``runs_in_memory``: an operation the per-batch executor cannot do sends the split
to the per-sample path (``data.in_memory=auto``) or is refused (``data.in_memory=true``), never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ...config import AugConfig
from ...errors import VislabError

# (aug key, whether only training runs it), in the order both executors apply them: geometry, then the
# policies (on uint8 pixels, as torchvision's references place them), then colour, then erasing.
ORDER: tuple[tuple[str, bool], ...] = (
    ("resize", False),
    ("random_resize", True),
    ("rotation", True),
    ("random_crop", True),
    ("hflip", True),
    ("vflip", True),
    ("center_crop", False),
    ("autoaugment", True),
    ("randaugment", True),
    ("trivialaugment", True),
    ("augmix", True),
    ("color_jitter", True),
    ("invert", True),
    ("random_erasing", True),
)
POLICIES = ("autoaugment", "randaugment", "trivialaugment", "augmix")  # image-only, one at a time


@dataclass(frozen=True)
class Op:
    """One step of the plan: the ``aug.<key>`` it comes from and that key's setting."""

    key: str
    value: Any


def is_on(value: Any) -> bool:
    """Whether an ``aug.*`` setting switches its operation on (null, false and 0 leave it off)."""
    return value is not None and value is not False and value != 0


def plan(aug: AugConfig, *, train: bool) -> list[Op]:
    """The operations ``aug`` switches on, in ``ORDER``; evaluation keeps the deterministic resize and
    center crop. Two policies at once are bad input (timm and torchvision's references take one)."""
    policies = [k for k in POLICIES if is_on(getattr(aug, k))]
    if len(policies) > 1:
        raise VislabError(f"aug.{policies[0]} and aug.{policies[1]} are both on; choose one augmentation policy")
    return [Op(key, getattr(aug, key)) for key, train_only in ORDER if (train or not train_only) and is_on(getattr(aug, key))]


def image_only(aug: AugConfig) -> list[str]:
    """The ``aug.*`` keys switched on that move image pixels without moving masks alongside (torchvision's
    policies transform images only), so segmentation cannot use them."""
    return [f"aug.{op.key}" for op in plan(aug, train=True) if op.key in POLICIES]


def runs_in_memory(
    setting: bool | str, per_sample_only: list[str], *, fits: bool, why_not: Optional[str] = None
) -> bool:
    """Whether splits are held in memory and augmented per batch: the one decision every dataset asks.

    ``per_sample_only`` names the settings the per-batch executor cannot do (from
    ``batch_augment.memory_unsupported``); ``fits`` says whether the images suit memory for ``auto``;
    ``why_not``, when given, is why ``data.in_memory=true`` cannot hold them at all.
    """
    if setting is True:
        if per_sample_only:
            key = per_sample_only[0]
            raise VislabError(
                f"data.in_memory=true: in-memory batches cannot apply {key}, which runs per sample; "
                f"set data.in_memory=false (or auto), or {key}=null"
            )
        if why_not:
            raise VislabError(f"data.in_memory=true {why_not}; set data.in_memory=false")
        return True
    if setting is False:
        return False
    return not per_sample_only and fits
