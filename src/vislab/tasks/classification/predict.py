"""Classes of image files: images read as the run's model takes them, predictions as CSV."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch

from ...config import AugConfig
from ...data.bundle import DataInfo
from ...errors import VislabError


def prepare_image(path: Path, aug: AugConfig, info: DataInfo) -> torch.Tensor:
    """An image file as the run's evaluation took its images, before normalization: float [C, H, W] in [0, 1]
    in the data's channels, resized and cropped by the evaluation pipeline the run used (per uint8 image, or
    as float batches where the data was held in memory), then brought to the training size where the data
    had one size."""
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import functional as TF

    from ...data.batch_augment import Resize, augment_for_memory
    from ...data.images import image_mode, read_image, unreadable_errors
    from ...data.transforms import build_transform

    try:
        image = read_image(path, image_mode(info.channels))
    except unreadable_errors() as e:
        raise VislabError(f"cannot read image {path}: {e}") from None
    if info.in_memory:  # as the Loader does it: to [0, 1] first, then the split's batch augmentation
        batch = {"image": image.float().div(255)[None]}
        steps = [augment_for_memory(aug, train=False), Resize(list(info.image_size), aug.interpolation)]
        for step in filter(None, steps):
            batch = step(batch, torch.Generator())
        return batch["image"][0]
    transform = build_transform(aug, train=False)
    image = tv_tensors.Image(image)
    if transform is not None:
        image = transform(image)
    if info.image_size is not None and tuple(image.shape[-2:]) != tuple(info.image_size):
        image = TF.resize(image, list(info.image_size), antialias=True)
    return image.as_subclass(torch.Tensor).float().div(255)


def write_predictions_csv(out: Path, rows: list[dict[str, Any]], k: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", *(f"{x}_{i}" for i in range(1, k + 1) for x in ("class", "prob"))])
        for row in rows:
            w.writerow([row["file"], *(v for n, p in zip(row["classes"], row["probabilities"]) for v in (n, f"{p:.6f}"))])
