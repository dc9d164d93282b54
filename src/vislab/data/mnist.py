"""MNIST: 70,000 handwritten digits, 28x28 gray, in the IDX format (gzipped), under ``<data root>/mnist``.

Validation is held out of the 60,000 training images (``data.val_fraction``); the test split is the
official 10,000.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from ..config import AugConfig, DataConfig
from ..errors import VislabError
from .bundle import DataBundle
from .classification import holdout_bundle
from .download import RemoteFile, fetch_all
from .splits import data_root

MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")


def _remote(name: str, md5: str) -> RemoteFile:
    return RemoteFile(name, tuple(m + name for m in MIRRORS), md5=md5)


# The published checksums (as torchvision checks them).
FILES = (
    _remote("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    _remote("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    _remote("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    _remote("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
)
FOLDER = "mnist"

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not) as an array: magic 0 0 TYPE NDIM, NDIM big-endian uint32 sizes, data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise VislabError(f"{path} is not a readable gzip file ({e}); delete it and download it again") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise VislabError(f"{path} is not an IDX file (bad magic number); delete it and download it again")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[data[2]])
    body = data[4 + 4 * ndim :]
    if len(body) != int(np.prod(shape)) * dtype.itemsize:
        raise VislabError(f"{path} holds {len(body)} bytes of data, its header says {shape}; it is truncated")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def load_pair(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, 1, 28, 28] and int64 labels [N] from an IDX image file and its label file."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise VislabError(
            f"{images_path.name} {images.shape} and {labels_path.name} {labels.shape} are not MNIST images [N, H, W] "
            "with N labels"
        )
    return torch.from_numpy(images.astype(np.uint8)).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


READS = ("root", "download", "limit", "val_fraction", "split_seed", "channels", "in_memory")  # a test split of its own  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    folder = data_root(cfg.root) / FOLDER
    paths = fetch_all(FILES, folder, cfg.download, MIRRORS[0])
    train = load_pair(paths[0], paths[1])
    test = load_pair(paths[2], paths[3])
    return holdout_bundle(cfg, aug, train, test, [str(i) for i in range(10)])


def status(root: Path) -> tuple[str, bool]:
    folder = root / FOLDER
    names = ", ".join(f.name for f in FILES)
    return f"{names} in {folder} (downloaded when online)", all((folder / f.name).is_file() for f in FILES)
