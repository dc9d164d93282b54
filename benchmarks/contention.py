"""Training images/s on a busy machine: vislab against a plain PyTorch loop with default settings.

Four measurements in one run, each in a fresh process (OpenMP reads its wait policy once, at start):
vislab and the plain loop of ``loop_overhead.py`` (MNIST CNN, batch 100, MNIST-shaped data in memory),
each alone and beside competing CPU-bound processes (``while True: pass``; half the cores by default),
as a browser or a second sweep worker would be. Last lines: ``busy ratio vislab/plain: R`` (target >= 2)
and ``idle ratio vislab/plain: R`` (target >= 0.95).

    python benchmarks/contention.py [--images 6000] [--competitors N] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def worker(kind: str, images: int, rounds: int) -> None:
    """Runs in the child: print the median images/s of ``rounds`` epochs after one warm-up epoch."""
    if kind == "vislab":
        from vislab.threads import prepare_process

        prepare_process()  # what `vislab train` does before torch is imported
    import statistics

    import torch

    sys.path.insert(0, str(HERE))
    import loop_overhead as lo

    x, y = lo.mnist_like(images)
    mean, std = x.float().div(255).mean().item(), x.float().div(255).std().item()
    speeds = []
    if kind == "plain":
        lo.seed_all(0)
        model = lo.MnistCNN(1, 10, (28, 28))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(rounds + 1):
            speeds.append(lo.plain_epoch(model, opt, x, y, 100, torch.device("cpu"), mean, std))
    else:
        vx, vy = lo.mnist_like(100, seed=1)
        info = lo.DataInfo("classification", 10, [str(i) for i in range(10)], 1, [mean], [std], image_size=(28, 28))
        bundle = lo.DataBundle(lo.MemoryDataset(x, y), lo.MemoryDataset(vx, vy), None, info)
        cfg = lo.config.resolve("digits", {
            "train.epochs": 1, "train.batch_size": 100, "train.progress": False, "sched.name": "none",
            "optim.lr": 1e-3, "train.accelerator": "cpu",
        })
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(rounds + 1):
                speeds.append(lo.vislab_epoch(cfg, bundle, Path(tmp)))
    print(f"{statistics.median(speeds[1:]):.1f} {torch.get_num_threads()}")


def measure(kind: str, args: argparse.Namespace, competitors: int) -> tuple[float, int]:
    """(images/s, threads at the end) of one child process, with ``competitors`` busy loops beside it."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(competitors)]
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", kind, "--images", str(args.images), "--rounds", str(args.rounds)],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.split()
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    return float(out[0]), int(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=6000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--competitors", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    ap.add_argument("--worker", choices=["plain", "vislab"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.images, args.rounds)
        return
    print(f"MNIST CNN, batch 100, {args.images} images in memory; {os.cpu_count()} cores; "
          f"busy = {args.competitors} competing CPU-bound process(es); load before: {os.getloadavg()[0]:.2f}")
    results = {}
    for load, competitors in (("idle", 0), ("busy", args.competitors)):
        for kind in ("plain", "vislab"):
            speed, threads = measure(kind, args, competitors)
            results[load, kind] = speed
            print(f"{load:5s} {kind:7s} {speed:8.0f} img/s  ({threads} threads)")
    for load in ("busy", "idle"):
        print(f"{load} ratio vislab/plain: {results[load, 'vislab'] / results[load, 'plain']:.3f}")


if __name__ == "__main__":
    main()
