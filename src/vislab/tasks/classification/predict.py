"""Classes of image files: images read as the run's model takes them, predictions as CSV."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch

from ...data.bundle import DataInfo
from ...errors import VislabError


def prepare_image(path: Path, transform: Any, info: DataInfo) -> torch.Tensor:
    """An image file as the run's model takes it: uint8 [C, H, W] in the data's channels, through the
    evaluation ``transform`` (or None), then resized to the training size where the data had one size."""
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import functional as TF

    from ...data.images import image_mode, read_image, unreadable_errors

    try:
        image = tv_tensors.Image(read_image(path, image_mode(info.channels)))
    except unreadable_errors() as e:
        raise VislabError(f"cannot read image {path}: {e}") from None
    if transform is not None:
        image = transform(image)
    if info.image_size is not None and tuple(image.shape[-2:]) != tuple(info.image_size):
        image = TF.resize(image, list(info.image_size), antialias=True)
    return image.as_subclass(torch.Tensor)


def write_predictions_csv(out: Path, rows: list[dict[str, Any]], k: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", *(f"{x}_{i}" for i in range(1, k + 1) for x in ("class", "prob"))])
        for row in rows:
            w.writerow([row["file"], *(v for n, p in zip(row["classes"], row["probabilities"]) for v in (n, f"{p:.6f}"))])
