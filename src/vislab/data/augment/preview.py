"""``vislab augment``: what the training pipeline does to images, shown before any training."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ...config import Config
from ..bundle import DataBundle
from ..datasets import SampleDataset
from ..loading.loader import Loader

if TYPE_CHECKING:
    import numpy as np


def original(dataset: object, index: int) -> dict:
    """A training sample as stored, before any augmentation."""
    return dataset.load(index) if isinstance(dataset, SampleDataset) else dataset[index]  # type: ignore[index]


def describe_target(target: torch.Tensor, class_names: list[str]) -> str:
    """'cat' for a class id; 'cat .62 / dog .38' for a CutMix/MixUp soft target [C]; the classes a mask [H,W]
    holds besides the background ('circle, square')."""
    if target.ndim == 0:
        return class_names[int(target)]
    if target.ndim == 2:
        present = [int(c) for c in torch.unique(target) if 0 < int(c) < len(class_names)]
        return ", ".join(class_names[c] for c in present) or class_names[0]
    weights, classes = target.float().topk(min(2, target.numel()))
    return " / ".join(f"{class_names[int(c)]} {float(w):.2f}" for w, c in zip(weights, classes) if w > 0)


def shown(image: torch.Tensor, target: torch.Tensor) -> "np.ndarray":
    """uint8 [H,W,3]: the image [C,H,W], with a segmentation mask [H,W] blended in."""
    from ...viz import overlay, to_display

    picture = to_display(image)
    return overlay(picture, target.numpy()) if target.ndim == 2 else picture


def save_augment_grid(cfg: Config, bundle: DataBundle, out: Path, count: int = 16) -> Path:
    """A PNG pairing ``count`` originals with the same samples after the training pipeline (the first
    batch of epoch 0 under ``train.seed``, not normalized, CutMix/MixUp included)."""
    from ...viz import save_grid

    train = bundle.train
    loader = Loader(
        train, min(count, len(train)), device=torch.device("cpu"), train=True, seed=cfg.train.seed, num_workers=0,
        batch_transform=bundle.batch_transform,
    )
    batch = next(loader.epoch(0))
    names = bundle.info.class_names
    images, titles = [], []
    for i, index in enumerate(torch.as_tensor(batch["index"]).tolist()):
        sample = original(train, index)
        images += [shown(torch.as_tensor(sample["image"]), torch.as_tensor(sample["target"])),
                   shown(batch["image"][i], batch["target"][i])]
        titles += [f"original {describe_target(torch.as_tensor(sample['target']), names)}",
                   describe_target(batch["target"][i], names)]
    return save_grid(out, images, titles, ncols=8)
