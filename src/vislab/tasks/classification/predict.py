"""Classes of image files: images read as the run's model takes them, predictions as CSV."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable

import torch

from ...config import AugConfig
from ...data.bundle import DataInfo
from ...errors import VislabError


def batch_preparer(aug: AugConfig, info: DataInfo) -> Callable[[list[Path]], torch.Tensor]:
    """``prepare(files) -> float [B, C, H, W] in [0, 1]``: image files as the run's evaluation took its images,
    before normalization: in the data's channels, resized and cropped by the evaluation pipeline the run used
    (per uint8 image, or as float batches where the data was held in memory), then brought to the training
    size where the data had one size. The pipeline is built once; images of one size go through it as one
    batch (the evaluation ops are deterministic, so a batch gives each image what it alone would get)."""
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import functional as TF

    from ...data.augment.per_batch import Resize, augment_for_memory
    from ...data.files.images import image_mode, read_image, unreadable_errors
    from ...data.augment.per_sample import build_transform

    mode, errors = image_mode(info.channels), unreadable_errors()
    size = list(info.image_size) if info.image_size is not None else None
    if info.in_memory:  # as the Loader does it: to [0, 1] first, then the split's batch augmentation
        resize = Resize(size, aug.interpolation) if size is not None else None
        steps = [s for s in (augment_for_memory(aug, train=False), resize) if s is not None]

        def pipeline(images: torch.Tensor) -> torch.Tensor:
            batch = {"image": images.float().div(255)}
            for step in steps:
                batch = step(batch, torch.Generator())
            return batch["image"]
    else:
        transform = build_transform(aug, train=False)

        def pipeline(images: torch.Tensor) -> torch.Tensor:
            x = tv_tensors.Image(images)
            if transform is not None:
                x = transform(x)
            if size is not None and list(x.shape[-2:]) != size:
                x = TF.resize(x, size, antialias=True)
            return x.as_subclass(torch.Tensor).float().div(255)

    def read(path: Path) -> torch.Tensor:
        try:
            return read_image(path, mode)
        except errors as e:
            raise VislabError(f"cannot read image {path}: {e}") from None

    def prepare(files: list[Path]) -> torch.Tensor:
        images = [read(f) for f in files]
        if all(im.shape == images[0].shape for im in images):
            return pipeline(torch.stack(images))
        return torch.cat([pipeline(im[None]) for im in images])

    return prepare


def write_predictions_csv(out: Path, rows: list[dict[str, Any]], k: int) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", *(f"{x}_{i}" for i in range(1, k + 1) for x in ("class", "prob"))])
        for row in rows:
            w.writerow([row["file"], *(v for n, p in zip(row["classes"], row["probabilities"]) for v in (n, f"{p:.6f}"))])
