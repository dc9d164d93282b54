"""CIFAR-10 and CIFAR-100: 60,000 32x32 colour images of 10 or 100 classes, from the pickled python
batches of their archives (the files torchvision reads), extracted under ``<data root>/cifar10`` or
``<data root>/cifar100``.

Validation is held out of the 50,000 training images (``data.val_fraction``); the test split is the
official 10,000. CIFAR-100's labels are its 100 fine classes. The batches are unpickled by an unpickler
that admits only containers and numpy arrays, so a tampered file cannot run code.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..bundle import DataBundle
from ..families.per_image import holdout_bundle
from ..files.download import RemoteFile, fetch, safe_extract
from ..loading.splits import data_root


@dataclass(frozen=True)
class CifarSet:
    """One CIFAR archive: the folder it is extracted in under the data root, the folder it extracts to,
    its training, test and meta batch files, and the keys of the labels and the class names."""

    archive: RemoteFile
    folder: str
    extracted: str
    train: tuple[str, ...]
    test: str
    meta: str
    labels: str
    names: str

    @property
    def batches(self) -> tuple[str, ...]:
        return (*self.train, self.test, self.meta)


# Archive checksums as published with the datasets (torchvision checks the same).
SETS: dict[str, CifarSet] = {
    "cifar10": CifarSet(
        RemoteFile("cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                   md5="c58f30108f718f92721af3b95e74349a", size=170_498_071),
        "cifar10", "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta",
        "labels", "label_names",
    ),
    "cifar100": CifarSet(
        RemoteFile("cifar-100-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
                   md5="eb9058c3a382ffc7106e4002c42a8d85"),
        "cifar100", "cifar-100-python", ("train",), "test", "meta", "fine_labels", "fine_label_names",
    ),
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a tampered file cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")


def read_batch(path: Path) -> dict[str, Any]:
    """A CIFAR python batch (a pickled dict, bytes or str keys) with str keys."""
    try:
        with open(path, "rb") as f:
            raw = _BatchUnpickler(f, encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as e:
        raise VislabError(f"{path} is not a readable CIFAR batch ({e}); delete {path.parent} and run again") from None
    if not isinstance(raw, dict):
        raise VislabError(f"{path} is not a CIFAR batch (a pickled dict); delete {path.parent} and run again")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def _field(batch: dict, key: str, path: Path) -> Any:
    if key not in batch:
        raise VislabError(f"{path} has no '{key}'; it is not a CIFAR batch of this dataset (delete {path.parent} and run again)")
    return batch[key]


def load_split(spec: CifarSet, paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, 3, 32, 32] and int64 labels [N] of batch files, concatenated in order."""
    images, targets = [], []
    for path in paths:
        batch = read_batch(path)
        data = np.asarray(_field(batch, "data", path), dtype=np.uint8)
        labels = np.asarray(_field(batch, spec.labels, path), dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
            raise VislabError(f"{path}: data {data.shape} and {labels.shape} labels are not CIFAR images [N, 3072]")
        images.append(torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()))
        targets.append(torch.from_numpy(labels))
    return torch.cat(images), torch.cat(targets)


def class_names(spec: CifarSet, path: Path) -> list[str]:
    names = _field(read_batch(path), spec.names, path)
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def extracted_folder(spec: CifarSet, cfg: DataConfig) -> Path:
    """The extracted batches, fetching (checked) and extracting the archive when they are not there yet."""
    folder = data_root(cfg.root) / spec.folder
    batches = folder / spec.extracted
    if all((batches / b).is_file() for b in spec.batches):
        return batches
    archive = fetch(spec.archive, folder, cfg.download, spec.archive.urls[0])
    safe_extract(archive, folder)
    missing = [b for b in spec.batches if not (batches / b).is_file()]
    if missing:
        raise VislabError(f"{archive} does not hold {spec.extracted}/{', '.join(missing)}; delete it and download it again")
    return batches


READS = ("root", "download", "limit", "val_fraction", "split_seed", "channels", "in_memory")  # a test split of its own: data.* keys ``build`` reads


def build(name: str, cfg: DataConfig, aug: AugConfig) -> DataBundle:
    spec = SETS[name]
    batches = extracted_folder(spec, cfg)
    names = class_names(spec, batches / spec.meta)
    train = load_split(spec, [batches / b for b in spec.train])
    test = load_split(spec, [batches / spec.test])
    for split, (_, labels) in (("train", train), ("test", test)):
        if len(labels) and int(labels.max()) >= len(names):
            raise VislabError(f"the {split} batches in {batches} have label {int(labels.max())} but {spec.meta} names {len(names)} classes")
    return holdout_bundle(cfg, aug, train, test, names)


def status(name: str, root: Path) -> tuple[str, bool]:
    spec = SETS[name]
    folder = root / spec.folder
    present = (folder / spec.archive.name).is_file() or all((folder / spec.extracted / b).is_file() for b in spec.batches)
    return f"{spec.archive.name} (or its {spec.extracted}/ folder) in {folder} (downloaded when online)", present


def builders(name: str):
    """(build, status) of one of ``SETS`` for the dataset registry."""
    return functools.partial(build, name), functools.partial(status, name)
