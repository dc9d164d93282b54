"""Training images/s of vislab's loop against a plain PyTorch loop: same model, data, batch size, optimizer.

The MNIST CNN at batch 100 on MNIST-shaped data (28x28 uint8, in memory), one epoch each, alternated in one
process so both see the same machine state. vislab's epoch includes everything it does every step (train
accuracy, loss accumulation, the NaN check, the per-step schedule, progress); its images/s is the one it
logs in metrics.csv. The same with model EMA on (``train.ema.decay=0.999``, updated every step; target: at
most 5% slower than without). Last line: ``ratio vislab/plain: R`` (target >= 0.95).

    python benchmarks/loop_overhead.py [--images 12000] [--rounds 3] [--batch 100] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from vislab import config
from vislab.data.bundle import DataBundle, DataInfo
from vislab.data.datasets import MemoryDataset
from vislab.engine import fit, make_fabric, seed_all
from vislab.models.cnn import MnistCNN
from vislab.runs import Run
from vislab.tasks.classification import ClassificationTask


def mnist_like(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random 28x28 uint8 digits-to-be and labels: the shapes and dtypes of MNIST, no download."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g), torch.randint(0, 10, (n,), generator=g)


def plain_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, images: torch.Tensor, targets: torch.Tensor,
                batch: int, device: torch.device, mean: float, std: float) -> float:
    """One epoch of the loop a user would write by hand; returns images/s."""
    model.train()
    order = torch.randperm(len(images), device=device)
    steps = len(images) // batch
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for s in range(steps):
        idx = order[s * batch : (s + 1) * batch]
        x = (images[idx].float().div_(255) - mean) / std
        loss = F.cross_entropy(model(x), targets[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def vislab_epoch(cfg: config.Config, bundle: DataBundle, runs: Path) -> float:
    """One epoch through engine.fit; returns the images/s it logged."""
    seed_all(0)
    model = MnistCNN(1, 10, (28, 28))
    run = Run.create(runs, "bench")
    fabric = make_fabric(cfg.train)
    fit(cfg, bundle, model, ClassificationTask(cfg, bundle.info), run, fabric)
    return run.history[-1]["images_per_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=12000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    device = torch.device(args.device)

    images, targets = mnist_like(args.images)
    val_images, val_targets = mnist_like(args.batch, seed=1)
    mean, std = images.float().div(255).mean().item(), images.float().div(255).std().item()
    info = DataInfo("classification", 10, [str(i) for i in range(10)], 1, [mean], [std], image_size=(28, 28))
    bundle = DataBundle(MemoryDataset(images, targets), MemoryDataset(val_images, val_targets), None, info)
    cfg = config.resolve("digits", {
        "train.epochs": 1, "train.batch_size": args.batch, "train.progress": False, "sched.name": "none",
        "optim.lr": 1e-3, "train.accelerator": device.type,
        "train.channels_last": False,  # the plain loop's memory format: this measures the loop, not the format
    })

    seed_all(0)
    plain_model = MnistCNN(1, 10, (28, 28)).to(device)
    plain_opt = torch.optim.Adam(plain_model.parameters(), lr=1e-3)
    dev_images, dev_targets = images.to(device), targets.to(device)
    print(f"MNIST CNN, batch {args.batch}, {args.images} MNIST-shaped images in memory, device {device}, "
          f"{torch.get_num_threads()} threads")
    plain_epoch(plain_model, plain_opt, dev_images, dev_targets, args.batch, device, mean, std)  # warm-up
    with_ema = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, ema=config.EmaConfig(decay=0.999)))
    ours, ema, plain = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        vislab_epoch(cfg, bundle, Path(tmp))  # warm-up
        for r in range(args.rounds):
            ours.append(vislab_epoch(cfg, bundle, Path(tmp)))
            ema.append(vislab_epoch(with_ema, bundle, Path(tmp)))
            plain.append(plain_epoch(plain_model, plain_opt, dev_images, dev_targets, args.batch, device, mean, std))
            print(f"round {r + 1}: vislab {ours[-1]:,.0f} img/s   vislab+EMA {ema[-1]:,.0f} img/s   plain {plain[-1]:,.0f} img/s")
    v, e, p = statistics.median(ours), statistics.median(ema), statistics.median(plain)
    print(f"median: vislab {v:,.0f} img/s   vislab+EMA {e:,.0f} img/s   plain {p:,.0f} img/s")
    print(f"EMA cost: {100 * (v / e - 1):.1f}% more time per image (target <= 5%)")
    print(f"ratio vislab+EMA/plain: {e / p:.3f}")
    print(f"ratio vislab/plain: {v / p:.3f}")


if __name__ == "__main__":
    main()
