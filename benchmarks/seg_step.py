"""Training throughput of voc-unet (the 5-level residual UNet) at 256x256, batch 8: vislab's loop against a
plain PyTorch loop on the same model, optimizer and in-memory data, alternated in one process.

    python benchmarks/seg_step.py [--batches N] [--rounds R] [--size PIXELS] [--device cpu|cuda]

Data: 256x256 synthetic scenes (``shapes``) held in memory, so neither side waits on decoding; VOC itself
is not needed. Last line: ``ratio vislab/plain: R`` (target R >= 0.95).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import vislab  # noqa: E402
from vislab import config, data, models  # noqa: E402

BATCH = 8


def overrides(batches: int, size: int, device: str = "cpu", batch: int = BATCH) -> dict:
    return {"train.accelerator": device,
        "data.name": "shapes", "data.image_size": [size, size], "data.num_samples": (batches + 1) * batch,
        "data.val_fraction": 1 / (batches + 1), "data.repeat": None, "aug.random_crop": None, "aug.hflip": None,
        "train.batch_size": batch, "train.epochs": 1, "train.progress": False,
    }


def vislab_images_per_s(batches: int, size: int, runs: str, device: str = "cpu", recipe: str = "voc-unet",
                        batch: int = BATCH) -> float:
    run = vislab.train(recipe, runs_dir=runs, **overrides(batches, size, device, batch))
    return float(run.history[-1]["images_per_s"])  # metrics.csv keeps full precision; summary.json rounds


def plain_images_per_s(batches: int, size: int, device: str = "cpu", recipe: str = "voc-unet", batch: int = BATCH) -> float:
    """The same model, optimizer and batches in a loop written out by hand (torch's default threads)."""
    torch.set_num_threads(os.cpu_count() or 1)  # vislab may have chosen fewer for the load it saw
    cfg = config.resolve(recipe, overrides(batches, size, device, batch))
    bundle = data.build(cfg.data, cfg.aug)
    torch.manual_seed(cfg.train.seed)
    model = models.build(cfg.model, bundle.info).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    mean = torch.tensor(bundle.info.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(bundle.info.std, device=device).view(1, -1, 1, 1)
    images, targets = bundle.train.images.to(device), bundle.train.targets.to(device)
    order = torch.randperm(len(images), device=device)
    synchronize(device)
    started = time.perf_counter()
    for step in range(batches):
        idx = order[step * batch : (step + 1) * batch]
        x = (images[idx].float().div(255) - mean) / std
        loss = F.cross_entropy(model(x), targets[idx], ignore_index=255)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    synchronize(device)
    return batches * batch / (time.perf_counter() - started)


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=4, help="training batches per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two loops")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    plain_images_per_s(1, args.size, args.device)  # warm-up: first-call allocations and kernel choices
    best = {"vislab": 0.0, "plain": 0.0}
    with tempfile.TemporaryDirectory() as runs:
        for r in range(args.rounds):
            for name, measure in (("vislab", lambda: vislab_images_per_s(args.batches, args.size, runs, args.device)),
                                  ("plain", lambda: plain_images_per_s(args.batches, args.size, args.device))):
                value = measure()
                best[name] = max(best[name], value)
                print(f"round {r + 1}  {name:<6} {value:7.2f} images/s", flush=True)
    print(f"voc-unet {args.size}x{args.size}, batch {BATCH}, {args.batches} batches x {args.rounds} rounds, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"best vislab {best['vislab']:.2f} images/s, plain {best['plain']:.2f} images/s")
    print(f"ratio vislab/plain: {best['vislab'] / best['plain']:.3f}")


if __name__ == "__main__":
    main()
