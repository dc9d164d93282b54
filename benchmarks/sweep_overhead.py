"""What a sweep costs on top of its runs: the same grid trained by `vislab.sweep` and by calling
`vislab.train` once per point, alternated in one process so both see the same machine state.

The sweep adds the Optuna study (SQLite), a claim per trial, a report per epoch, heartbeats and the
display; with ``--workers N`` it also pays N process start-ups and gains N trials at once. The reference
is the plain loop a user would write. Last line: ``ratio sweep/plain: R`` (1.0 means no overhead).

    python benchmarks/sweep_overhead.py [--seeds 3] [--epochs 2] [--rounds 2] [--workers 1] [--limit N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import vislab


def plain(runs_dir: Path, overrides: dict, seeds: int) -> float:
    """Seconds to train adam and sgd over the seeds with vislab.train, one after another."""
    started = time.perf_counter()
    for seed in range(seeds):
        for name in ("adam", "sgd"):
            vislab.train("digits", runs_dir=runs_dir, overrides={**overrides, "optim.name": name, "train.seed": seed})
    return time.perf_counter() - started


def swept(runs_dir: Path, overrides: dict, seeds: int, workers: int) -> float:
    """Seconds for `vislab sweep digits optim.name=adam,sgd --seeds N` with the same overrides."""
    started = time.perf_counter()
    vislab.sweep("digits", overrides, {"optim.name": ["adam", "sgd"]}, seeds=seeds, workers=workers,
                 runs_dir=runs_dir, show=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="data.limit (images per split)")
    args = parser.parse_args()
    overrides = {"train.epochs": args.epochs, "train.progress": False, "data.limit": args.limit}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        vislab.train("digits", runs_dir=root / "warmup", overrides={**overrides, "train.epochs": 1})
        times: dict[str, list[float]] = {"plain": [], "sweep": []}
        for i in range(args.rounds):
            times["plain"].append(plain(root / f"plain{i}", overrides, args.seeds))
            times["sweep"].append(swept(root / f"sweep{i}", overrides, args.seeds, args.workers))
            print(f"round {i + 1}: plain {times['plain'][-1]:.1f} s, sweep {times['sweep'][-1]:.1f} s")
    best_plain, best_sweep = min(times["plain"]), min(times["sweep"])
    print(f"{2 * args.seeds} runs of {args.epochs} epochs: plain {best_plain:.1f} s, sweep (workers={args.workers}) {best_sweep:.1f} s")
    print(f"ratio sweep/plain: {best_sweep / best_plain:.3f}")


if __name__ == "__main__":
    main()
