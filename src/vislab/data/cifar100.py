"""CIFAR-100: 60,000 32x32 colour images of 100 classes, from the pickled python batches of
cifar-100-python.tar.gz, extracted under ``<data root>/cifar100``.

Validation is held out of the 50,000 training images (``data.val_fraction``); the test split is the
official 10,000. Labels are the 100 fine classes.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import AugConfig, DataConfig
from ..errors import VislabError
from .bundle import DataBundle
from .classification import holdout_bundle
from .download import RemoteFile, fetch, safe_extract
from .splits import data_root

ARCHIVE = RemoteFile(
    "cifar-100-python.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
    md5="eb9058c3a382ffc7106e4002c42a8d85",  # published with the dataset, as torchvision checks it
)
FOLDER = "cifar100"
EXTRACTED = "cifar-100-python"
BATCHES = ("train", "test", "meta")


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
        raise VislabError(f"{path} has no '{key}'; it is not a CIFAR-100 batch (delete {path.parent} and run again)")
    return batch[key]


def load_split(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, 3, 32, 32] and int64 fine labels [N] of one batch file."""
    batch = read_batch(path)
    data = np.asarray(_field(batch, "data", path), dtype=np.uint8)
    labels = np.asarray(_field(batch, "fine_labels", path), dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise VislabError(f"{path}: data {data.shape} and {labels.shape} labels are not CIFAR images [N, 3072]")
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(labels)


def class_names(path: Path) -> list[str]:
    names = _field(read_batch(path), "fine_label_names", path)
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def extracted_folder(cfg: DataConfig) -> Path:
    """The extracted batches, fetching (checked) and extracting the archive when they are not there yet."""
    folder = data_root(cfg.root) / FOLDER
    batches = folder / EXTRACTED
    if all((batches / b).is_file() for b in BATCHES):
        return batches
    archive = fetch(ARCHIVE, folder, cfg.download, ARCHIVE.urls[0])
    safe_extract(archive, folder)
    missing = [b for b in BATCHES if not (batches / b).is_file()]
    if missing:
        raise VislabError(f"{archive} does not hold {EXTRACTED}/{', '.join(missing)}; delete it and download it again")
    return batches


READS = ("root", "download", "limit", "val_fraction", "split_seed", "channels", "in_memory")  # a test split of its own  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    batches = extracted_folder(cfg)
    names = class_names(batches / "meta")
    train, test = load_split(batches / "train"), load_split(batches / "test")
    for split, (_, labels) in (("train", train), ("test", test)):
        if len(labels) and int(labels.max()) >= len(names):
            raise VislabError(f"{batches / split} has label {int(labels.max())} but meta names {len(names)} classes")
    return holdout_bundle(cfg, aug, train, test, names)


def status(root: Path) -> tuple[str, bool]:
    folder = root / FOLDER
    present = (folder / ARCHIVE.name).is_file() or all((folder / EXTRACTED / b).is_file() for b in BATCHES)
    return f"{ARCHIVE.name} (or its {EXTRACTED}/ folder) in {folder} (downloaded when online)", present
