"""MNIST and Fashion-MNIST: 70,000 28x28 gray images of 10 classes each (handwritten digits; Zalando's
clothes), in the IDX format (gzipped), under ``<data root>/mnist`` and ``<data root>/fashion_mnist``.

Validation is held out of the 60,000 training images (``data.val_fraction``); the test split is the
official 10,000.
"""

from __future__ import annotations

import functools
import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..bundle import DataBundle
from ..families.per_image import holdout_bundle
from ..files.download import RemoteFile, fetch_all
from ..loading.splits import data_root

NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@dataclass(frozen=True)
class IdxSet:
    """One dataset of four IDX files (train images and labels, test images and labels, in ``NAMES``'
    order): its folder under the data root, its files with their mirrors and checksums, its classes."""

    folder: str
    files: tuple[RemoteFile, ...]
    classes: tuple[str, ...]


def _files(mirrors: tuple[str, ...], md5s: tuple[str, ...]) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(name, tuple(m + name for m in mirrors), md5=md5) for name, md5 in zip(NAMES, md5s))


# The published checksums (as torchvision checks them).
SETS: dict[str, IdxSet] = {
    "mnist": IdxSet("mnist", _files(
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
         "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
    ), tuple(str(i) for i in range(10))),
    "fashion_mnist": IdxSet("fashion_mnist", _files(
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
         "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
         "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
    ), ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
}

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


READS = ("root", "download", "limit", "val_fraction", "split_seed", "channels", "in_memory")  # a test split of its own: data.* keys ``build`` reads


def build(name: str, cfg: DataConfig, aug: AugConfig) -> DataBundle:
    spec = SETS[name]
    folder = data_root(cfg.root) / spec.folder
    paths = fetch_all(spec.files, folder, cfg.download, spec.files[0].urls[0].rsplit("/", 1)[0] + "/")
    train = load_pair(paths[0], paths[1])
    test = load_pair(paths[2], paths[3])
    for split, (_, labels) in (("train", train), ("test", test)):
        if len(labels) and int(labels.max()) >= len(spec.classes):
            raise VislabError(f"the {split} labels in {folder} reach {int(labels.max())}; {name} has {len(spec.classes)} classes")
    return holdout_bundle(cfg, aug, train, test, list(spec.classes))


def status(name: str, root: Path) -> tuple[str, bool]:
    spec = SETS[name]
    folder = root / spec.folder
    names = ", ".join(f.name for f in spec.files)
    return f"{names} in {folder} (downloaded when online)", all((folder / f.name).is_file() for f in spec.files)


def builders(name: str):
    """(build, status) of one of ``SETS`` for the dataset registry."""
    return functools.partial(build, name), functools.partial(status, name)
