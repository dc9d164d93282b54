"""The in-memory fast path against per-sample loading, for the mnist-cnn recipe's augmentation.

1. Data only: images/s of vislab's Loader over the training split with the recipe's augmentation
   (rotation +-13 deg), per sample (v2 transforms in 2 DataLoader workers) and in memory (one uint8
   tensor, rotated per batch through an affine grid).
2. End to end: training images/s of `vislab train mnist-cnn` (in-memory path) against a plain PyTorch
   script as one writes it with torchvision: a PIL dataset, RandomRotation, ToTensor, Normalize,
   DataLoader(num_workers=2, shuffle=True), the same model, optimizer and batch size.
Both are alternated in one process. MNIST is read from the data root when it is there; otherwise 60,000
MNIST-shaped images (28x28 uint8, scikit-learn's digits enlarged with random shifts) are generated, and
the output says so. The last line is `ratio in-memory/per-sample: R` (the data-only ratio).

    python benchmarks/data_path.py [--batches 100] [--train-batches 40] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import vislab  # noqa: E402
from vislab.config import resolve  # noqa: E402
from vislab.data import Loader, MemoryDataset  # noqa: E402
from vislab.data.sources import mnist  # noqa: E402
from vislab.data.augment.per_batch import augment_for_memory  # noqa: E402
from vislab.data.families.per_image import ArrayDataset  # noqa: E402
from vislab.data.loading.splits import data_root  # noqa: E402
from vislab.data.augment.per_sample import build_transform  # noqa: E402
from vislab.models.cnn import MnistCNN  # noqa: E402

BATCH = 100


def generated_mnist(n_train: int = 60_000, n_test: int = 10_000) -> dict[str, np.ndarray]:
    """MNIST-shaped arrays: digits enlarged to 20x20, placed at a random offset in 28x28, with noise."""
    from vislab.data.sources.digits import load_arrays

    digits, labels = load_arrays()
    big = F.interpolate(digits.float(), size=(20, 20), mode="bilinear", align_corners=False)
    rng = np.random.default_rng(0)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        pick = rng.integers(0, len(digits), n)
        out = np.zeros((n, 28, 28), np.float32)
        dy, dx = rng.integers(0, 9, n), rng.integers(0, 9, n)
        for i, (p, y, x) in enumerate(zip(pick, dy, dx)):
            out[i, y : y + 20, x : x + 20] = big[p, 0].numpy()
        out += rng.normal(0, 8, out.shape)
        return out.clip(0, 255).astype(np.uint8), labels.numpy()[pick].astype(np.uint8)

    train, test = make(n_train), make(n_test)
    return {
        "train-images-idx3-ubyte.gz": train[0], "train-labels-idx1-ubyte.gz": train[1],
        "t10k-images-idx3-ubyte.gz": test[0], "t10k-labels-idx1-ubyte.gz": test[1],
    }


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    import gzip
    import struct

    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())


def mnist_root(scratch: Path) -> tuple[Path, str]:
    """A data root holding MNIST: the real one when present, else generated files (whose checksums
    replace the published ones for this process only)."""
    real, spec = data_root(None), mnist.SETS["mnist"]
    if all((real / spec.folder / f.name).is_file() for f in spec.files):
        return real, f"MNIST from {real / spec.folder}"
    folder = scratch / spec.folder
    folder.mkdir(parents=True)
    for name, array in generated_mnist().items():
        write_idx_gz(folder / name, array)
    files = tuple(dataclasses.replace(f, md5=hashlib.md5((folder / f.name).read_bytes()).hexdigest()) for f in spec.files)
    mnist.SETS["mnist"] = dataclasses.replace(spec, files=files)
    return scratch, "MNIST files absent: generated 60,000 MNIST-shaped training images (28x28 uint8)"


def loader_images_per_s(dataset, device: torch.device, batches: int, workers: int) -> float:
    """Images/s of a training Loader over ``batches`` batches (worker start-up excluded: it is paid once)."""
    loader = Loader(dataset, BATCH, device=device, train=True, num_workers=workers, mean=[0.13], std=[0.31],
                    limit_batches=batches + 5)
    it = loader.epoch(0)
    for _ in range(5):  # warm-up: workers started, first batches through
        next(it)
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    n = 0
    for batch in it:
        n += batch["image"].shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - started)


class PilMnist(torch.utils.data.Dataset):
    """What torchvision.datasets.MNIST does per item: a PIL image through the transform."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, transform) -> None:
        self.images, self.targets, self.transform = images, targets, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i, 0].numpy(), mode="L")), int(self.targets[i])


def plain_training(images: torch.Tensor, targets: torch.Tensor, device: torch.device, batches: int) -> float:
    """Training images/s of the plain script over ``batches`` batches, after 5 warm-up batches (which
    take the workers' start-up: vislab's figure keeps its own first steps, so this favours the script)."""
    from torchvision import transforms as T

    torch.manual_seed(0)
    transform = T.Compose([T.RandomRotation(13), T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    loader = torch.utils.data.DataLoader(PilMnist(images, targets, transform), batch_size=BATCH, shuffle=True,
                                         num_workers=2, drop_last=True, pin_memory=device.type == "cuda")
    model = MnistCNN(1, 10, (28, 28)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.08e-3)
    model.train()
    n = 0
    for step, (x, y) in enumerate(loader):
        if step == 5:
            float(loss.detach())  # wait for the device
            started = time.perf_counter()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n += x.shape[0] if step >= 5 else 0
        if step + 1 == batches + 5:
            break
    float(loss.detach())
    return n / (time.perf_counter() - started)


def vislab_training(root: Path, runs: Path, device: torch.device, batches: int) -> float:
    run = vislab.train("mnist-cnn", runs_dir=runs, **{
        "data.root": str(root), "train.epochs": 1, "train.limit_batches": batches, "train.progress": False,
        "data.limit": batches * BATCH, "train.accelerator": device.type,
    })
    return float(run.summary["train_images_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=100, help="batches per data-path measurement")
    parser.add_argument("--train-batches", type=int, default=40, help="batches per training measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two sides")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as scratch:
        root, source = mnist_root(Path(scratch))
        print(source)
        print(f"device {device}, torch {torch.__version__}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads, "
              f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, batch {BATCH}")
        cfg = resolve("mnist-cnn", {"data.root": str(root)})
        spec = mnist.SETS["mnist"]
        images, targets = mnist.load_pair(root / spec.folder / spec.files[0].name, root / spec.folder / spec.files[1].name)
        per_sample = ArrayDataset(images, targets, build_transform(cfg.aug, train=True))
        in_memory = MemoryDataset(images, targets, augment=augment_for_memory(cfg.aug))
        data = {"per-sample": [], "in-memory": []}
        train = {"plain": [], "vislab": []}
        for r in range(args.rounds):
            data["per-sample"].append(loader_images_per_s(per_sample, device, args.batches, workers=2))
            data["in-memory"].append(loader_images_per_s(in_memory, device, args.batches, workers=0))
            train["plain"].append(plain_training(images, targets, device, args.train_batches))
            train["vislab"].append(vislab_training(root, Path(scratch) / "runs", device, args.train_batches))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f} img/s" for k, v in {**data, **train}.items()))
        best = {k: max(v) for k, v in {**data, **train}.items()}
        print(f"best of {args.rounds} rounds (the machine may be shared: compare within one run only)")
        print(f"data path, {cfg.aug.rotation:g} deg rotation: per-sample (2 workers) {best['per-sample']:,.0f} img/s, "
              f"in-memory {best['in-memory']:,.0f} img/s")
        print(f"training mnist-cnn: plain PyTorch + per-sample DataLoader {best['plain']:,.0f} img/s, "
              f"vislab in-memory {best['vislab']:,.0f} img/s")
        print(f"ratio training vislab/plain: {best['vislab'] / best['plain']:.2f}")
        print(f"ratio in-memory/per-sample: {best['in-memory'] / best['per-sample']:.2f}")


if __name__ == "__main__":
    main()
