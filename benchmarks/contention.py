"""Training images/s on a busy machine: vislab against a plain PyTorch loop with default settings.

Per workload, four measurements, each in a fresh process (OpenMP reads its wait policy once, at start):
vislab and a plain loop, each alone and beside competing CPU-bound processes (``while True: pass``; half
the cores by default), as a browser or a second sweep worker would be. Workloads:

- ``unet``: shapes-unet's residual UNet at 64x64, batch 32 (the issue's case: `vislab train shapes-unet`
  took 552 s beside other work against 163 s alone); the plain loop is ``seg_step.py``'s.
- ``cnn``: the MNIST CNN at batch 100 on MNIST-shaped data in memory; the plain loop is ``loop_overhead.py``'s.

Last lines, per workload: ``busy ratio vislab/plain (W): R`` (target >= 2) and ``idle ratio vislab/plain (W): R``
(target >= 0.95).

    python benchmarks/contention.py [--workloads unet cnn] [--competitors N] [--rounds 2]
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
    print(f"{statistics.median(speeds[1:]):.1f} {torch.get_num_threads()}")


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


def measure(kind: str, workload: str, args: argparse.Namespace, competitors: int) -> tuple[float, int]:
    """(images/s, threads at the end) of one child process, with ``competitors`` busy loops beside it."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(competitors)]
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
    return float(out[0]), int(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", choices=["unet", "cnn"], default=["unet", "cnn"])
    ap.add_argument("--images", type=int, default=6000, help="cnn: training images per epoch")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--competitors", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    ap.add_argument("--worker", choices=["plain", "vislab"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.workloads[0], args.images, args.rounds)
        return
    print(f"unet: shapes-unet at 64x64, batch 32, {UNET_BATCHES} batches an epoch; cnn: MNIST CNN, batch 100, "
          f"{args.images} images in memory; {os.cpu_count()} cores; busy = {args.competitors} competing CPU-bound "
          f"process(es); load before: {os.getloadavg()[0]:.2f}", flush=True)
    results = {}
    for workload in args.workloads:
        for load, competitors in (("idle", 0), ("busy", args.competitors)):
            for kind in ("plain", "vislab"):
                speed, threads = measure(kind, workload, args, competitors)
                results[workload, load, kind] = speed
                print(f"{workload:5s} {load:5s} {kind:7s} {speed:8.1f} img/s  ({threads} threads)", flush=True)
    for workload in args.workloads:
        for load in ("busy", "idle"):
            ratio = results[workload, load, "vislab"] / results[workload, load, "plain"]
            print(f"{load} ratio vislab/plain ({workload}): {ratio:.3f}")


if __name__ == "__main__":
    main()
