"""`vislab` with one more dataset, ``digit-samples``: the digits read one sample at a time.

The digits are an in-memory dataset; this serves the same images as a ``SampleDataset``, so a run goes
through DataLoader worker processes (and per-sample v2 transforms when aug.* asks). Without augmentation
it trains exactly as ``digits`` does. Tests start it as a script:
``python digit_samples.py train ... data.name=digit-samples``.
"""

from __future__ import annotations

import sys

import torch
from torchvision import tv_tensors

from vislab.config import AugConfig, DataConfig
from vislab.data import DATASETS, DataBundle, DatasetSpec, SampleDataset
from vislab.data.sources import digits
from vislab.data.augment.per_sample import build_transform


class DigitSamples(SampleDataset):
    def __init__(self, images: torch.Tensor, targets: torch.Tensor, transform=None) -> None:
        self.images, self.targets, self.transform = images, targets, transform

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> dict:
        return {"image": tv_tensors.Image(self.images[index]), "target": int(self.targets[index])}


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    """The splits of ``digits``, image for image."""
    memory = digits.build(cfg, AugConfig())
    train = DigitSamples(memory.train.images, memory.train.targets, build_transform(aug, train=True))
    val = DigitSamples(memory.val.images, memory.val.targets)
    test = DigitSamples(memory.test.images, memory.test.targets) if memory.test is not None else None
    return DataBundle(train=train, val=val, test=test, info=memory.info)


DATASETS["digit-samples"] = DatasetSpec(build, digits.status, digits.READS)

if __name__ == "__main__":
    from vislab.cli import main

    raise SystemExit(main(sys.argv[1:]))
