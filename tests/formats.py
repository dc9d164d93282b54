"""Tiny datasets written in the real on-disk formats, for tests that load them through the real readers."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    """IDX: 0, 0, type 0x08 (uint8), ndim, big-endian uint32 sizes, then the bytes; gzipped."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_mnist(root: Path, n_train: int = 200, n_test: int = 50, seed: int = 0, folder: str = "mnist") -> dict[str, np.ndarray]:
    """root/<folder>/*-ubyte.gz (MNIST, or Fashion-MNIST with folder="fashion_mnist") holding random 28x28
    images with labels cycling 0..9; returns the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, array in arrays.items():
        write_idx_gz(root / folder / name, array)
    return arrays


def accept_mnist(monkeypatch, root: Path, name: str = "mnist") -> None:
    """Make vislab's checksums of MNIST (or ``name``) those of the tiny files under root (the check itself still runs)."""
    from vislab.data.sources import mnist

    spec = mnist.SETS[name]
    files = tuple(dataclasses.replace(f, md5=md5(root / spec.folder / f.name)) for f in spec.files)
    monkeypatch.setitem(mnist.SETS, name, dataclasses.replace(spec, files=files))


def cifar_pickle(obj: dict) -> bytes:
    """A batch as the real files are: a protocol-2 pickle of a dict with bytes keys (made by python 2)."""
    return pickle.dumps({k.encode(): v for k, v in obj.items()}, protocol=2)


def write_cifar(root: Path, name: str = "cifar100", n_train: int = 500, n_test: int = 100, seed: int = 0,
                packed: bool = True) -> dict[str, np.ndarray]:
    """root/<name>/<archive> as the real one (cifar10: data_batch_1..5, test_batch, batches.meta with
    "labels"; cifar100: train, test, meta with "fine_labels") of random images, or with ``packed=False``
    its folder as the archive unpacks (no checksum to match then); returns the rows of data [N, 3072]
    (R plane, G plane, B plane) and labels of "train" (all batches in order) and "test"."""
    from vislab.data.sources.cifar import SETS

    spec = SETS[name]
    classes = 10 if name == "cifar10" else 100
    rng = np.random.default_rng(seed)
    names = [f"class{i:02d}".encode() for i in range(classes)]
    members = {spec.meta: cifar_pickle({spec.names: names, **({"coarse_label_names": names[:20]} if classes == 100 else {})})}
    out = {}
    for split, n, files in (("train", n_train, spec.train), ("test", n_test, (spec.test,))):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [i % classes for i in range(n)]
        out[split], out[split + "_labels"] = data, np.array(labels)
        for part, rows in zip(files, np.array_split(np.arange(n), len(files))):
            batch = {"data": data[rows], spec.labels: [labels[i] for i in rows], "batch_label": part.encode(),
                     "filenames": [f"img{i}.png".encode() for i in rows]}
            if classes == 100:
                batch["coarse_labels"] = [labels[i] // 5 for i in rows]
            members[part] = cifar_pickle(batch)
    if not packed:
        for member, payload in members.items():
            path = root / spec.folder / spec.extracted / member
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(payload)
        return out
    archive = root / spec.folder / spec.archive.name
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for member, payload in members.items():
            info = tarfile.TarInfo(f"{spec.extracted}/{member}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return out


def accept_cifar(monkeypatch, root: Path, name: str = "cifar100") -> None:
    """Make vislab's checksum (and size) of the CIFAR archive those of the tiny one under root."""
    from vislab.data.sources import cifar

    spec = cifar.SETS[name]
    archive = root / spec.folder / spec.archive.name
    remote = dataclasses.replace(spec.archive, md5=md5(archive), size=archive.stat().st_size)
    monkeypatch.setitem(cifar.SETS, name, dataclasses.replace(spec, archive=remote))


def write_folder(root: Path, classes: dict[str, int], size=(12, 10), mode: str = "RGB", ext: str = ".png", seed: int = 0) -> None:
    """root/<class>/<i><ext>: ``classes[name]`` random images each."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1}[mode]
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (size[0], size[1], channels), dtype=np.uint8)
            Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(root / name / f"{i}{ext}")


OFFICEHOME_DOMAINS = ("Art", "Clipart", "Product", "Real_World")


def write_officehome(data_root: Path, classes: dict[str, int], real_world: str = "Real_World") -> Path:
    """data_root/OfficeHome/<domain>/<class>/<i>.jpg as the real dataset lays it out: ``classes[name]``
    small JPEGs per class and domain, each domain with its own image size; ``real_world`` names the last
    domain's folder ("Real World" as in the official archive). Returns the OfficeHome folder."""
    root = data_root / "OfficeHome"
    for d, domain in enumerate(OFFICEHOME_DOMAINS):
        folder = root / (real_world if domain == "Real_World" else domain)
        write_folder(folder, classes, size=(12 + 2 * d, 10 + d), ext=".jpg", seed=d)
    return root


def write_digits_folder(root: Path, flip: float = 0.05, seed: int = 0, limit: int | None = None) -> list[str]:
    """scikit-learn's digits as an image folder, root/{train,val,test}/<digit>/<i>.png (60/20/20, stratified,
    seeded), the first ``limit`` images only when given, with a ``flip`` share of the training images filed under
    a wrong digit (each a random other one, seeded): returns the flipped files as vislab names them
    (train/<given digit>/<i>.png)."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    images = np.round(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[:limit]
    labels = d.target[:limit]
    index = np.arange(len(labels))
    train, rest = train_test_split(index, test_size=0.4, stratify=labels, random_state=seed)
    val, test = train_test_split(rest, test_size=0.5, stratify=labels[rest], random_state=seed)
    rng = np.random.default_rng(seed)
    flipped = set(rng.choice(train, size=int(round(flip * len(train))), replace=False).tolist())
    names = []
    for split, members in (("train", train), ("val", val), ("test", test)):
        for i in members:
            given = int(labels[i])
            if i in flipped:
                given = int(rng.choice([c for c in range(10) if c != labels[i]]))
            name = f"{split}/{given}/{i}.png"
            (root / split / str(given)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i], "L").save(root / name)
            if i in flipped:
                names.append(name)
    return sorted(names)
