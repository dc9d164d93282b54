"""Training images/s on a busy machine: vislab against a plain PyTorch loop with default settings.

Per workload, vislab and a plain loop, each alone and beside competing CPU-bound processes (half the cores
by default), each measurement in a fresh process (OpenMP reads its wait policy once, at start). Competitors
(``--competitor``, both by default):

- ``python``: ``while True: pass``, one thread each, as a browser tab would be. It takes one core and leaves
  the other, so the best anyone can do beside it is one core's speed: on 2 cores that bounds the busy ratio
  at about (one thread idle) / (plain busy), 1.6-1.8 for the UNet here (62.5 / 38.4 and 62.5 / 34.8 img/s).
- ``torch``: a plain PyTorch training loop (a small CNN at 64 px) with torch's defaults, as a second training
  job or a sweep's other worker would be: the issue's case, whose spinning threads fight the plain loop's.

Workloads:

- ``unet``: shapes-unet's residual UNet at 64x64, batch 32 (the issue's case: `vislab train shapes-unet`
  took 552 s beside other work against 163 s alone); the plain loop is ``seg_step.py``'s.
- ``cnn``: the MNIST CNN at batch 100 on MNIST-shaped data in memory; the plain loop is ``loop_overhead.py``'s.

Last lines, per workload: ``busy ratio vislab/plain (W, C): R`` per competitor C (target >= 2) and
``idle ratio vislab/plain (W): R`` (target >= 0.95).

    python benchmarks/contention.py [--workloads unet cnn] [--competitor python torch] [--competitors N] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
UNET_BATCHES = 8  # per measured epoch
SRC = HERE.parent / "src"


def worker(kind: str, workload: str, images: int, rounds: int) -> None:
    """Runs in the child: print the median images/s of ``rounds`` epochs after one warm-up epoch."""
    if kind == "vislab":
        from vislab.threads import prepare_process

        prepare_process()  # what `vislab train` does before torch is imported
    import statistics

    import torch

    sys.path.insert(0, str(HERE))
    if workload == "unet":
        import seg_step

        with tempfile.TemporaryDirectory() as tmp:
            speeds = [seg_step.vislab_images_per_s(UNET_BATCHES, 64, tmp, recipe="shapes-unet", batch=32) if kind == "vislab"
                      else seg_step.plain_images_per_s(UNET_BATCHES, 64, recipe="shapes-unet", batch=32)
                      for _ in range(rounds + 1)]
    else:
        speeds = cnn_speeds(kind, images, rounds)
    print(f"{statistics.median(speeds[1:]):.1f} {torch.get_num_threads()} {os.environ.get('OMP_WAIT_POLICY', 'default')}")


def cnn_speeds(kind: str, images: int, rounds: int) -> list[float]:
    """Images/s of ``rounds`` + 1 epochs of the MNIST CNN, the first a warm-up."""
    import torch

    import loop_overhead as lo

    x, y = lo.mnist_like(images)
    mean, std = x.float().div(255).mean().item(), x.float().div(255).std().item()
    speeds: list[float] = []
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
    return speeds


def torch_competitor() -> None:
    """Runs in a competitor: a plain PyTorch training loop with torch's default threads and wait policy, forever."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(32, 3, 64, 64), torch.randint(0, 10, (32,))
    while True:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def measure(kind: str, workload: str, args: argparse.Namespace, competitor: str, competitors: int) -> tuple[float, int, str]:
    """(images/s, threads at the end, OpenMP wait policy) of one child process, with ``competitors`` competitors
    beside it."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    command = ["-c", "while True: pass"] if competitor == "python" else [__file__, "--run-competitor"]
    hogs = [subprocess.Popen([sys.executable, *command], env=env) for _ in range(competitors)]
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", kind, "--workloads", workload, "--images", str(args.images),
             "--rounds", str(args.rounds)],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.split()
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    return float(out[0]), int(out[1]), out[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", choices=["unet", "cnn"], default=["unet", "cnn"])
    ap.add_argument("--images", type=int, default=6000, help="cnn: training images per epoch")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--competitor", nargs="+", choices=["python", "torch"], default=["python", "torch"])
    ap.add_argument("--competitors", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    ap.add_argument("--worker", choices=["plain", "vislab"], help=argparse.SUPPRESS)
    ap.add_argument("--run-competitor", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run_competitor:
        torch_competitor()
    if args.worker:
        worker(args.worker, args.workloads[0], args.images, args.rounds)
        return
    print(f"unet: shapes-unet at 64x64, batch 32, {UNET_BATCHES} batches an epoch; cnn: MNIST CNN, batch 100, "
          f"{args.images} images in memory; {os.cpu_count()} cores; busy = {args.competitors} competitor(s) of each "
          f"kind; load before: {os.getloadavg()[0]:.2f}", flush=True)
    results = {}
    loads = [("idle", "-", 0)] + [("busy", c, args.competitors) for c in args.competitor]
    for workload in args.workloads:
        for load, competitor, competitors in loads:
            for kind in ("plain", "vislab"):
                speed, threads, policy = measure(kind, workload, args, competitor, competitors)
                results[workload, load, competitor, kind] = speed
                print(f"{workload:5s} {load:5s} {competitor:6s} {kind:7s} {speed:8.1f} img/s  ({threads} threads, "
                      f"{policy} wait)", flush=True)
    for workload in args.workloads:
        for load, competitor, _ in loads[1:] + loads[:1]:
            ratio = results[workload, load, competitor, "vislab"] / results[workload, load, competitor, "plain"]
            named = f"{workload}, {competitor}" if load == "busy" else workload
            print(f"{load} ratio vislab/plain ({named}): {ratio:.3f}")


if __name__ == "__main__":
    main()
