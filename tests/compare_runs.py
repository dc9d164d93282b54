"""Run directories with known numbers, written through the real writers (config.yaml, metrics.csv,
summary.json), for the comparison's tests."""

from __future__ import annotations

from pathlib import Path

from vislab import config
from vislab.runs import Run


def write_run(root: Path, optimizer: str, seed: int, best: float, status: str = "completed", recipe: str = "digits",
              test: float | None = None, **overrides: object) -> Run:
    """A two-epoch run whose val_acc peaks at ``best`` in epoch 2, with val_loss = 1 - val_acc (``overrides``: more
    config keys, e.g. data.name); test_acc is ``test``, or best - 0.01."""
    cfg = config.resolve(recipe, {"optim.name": optimizer, "train.seed": seed, "train.epochs": 2, **overrides})
    run = Run.create(root, cfg.recipe, f"{optimizer}-{seed}")
    config.save(cfg, run.config_path)
    rows = [
        {"epoch": 1, "lr": 0.003, "train_loss": 1.0, "val_loss": 1 - (best - 0.1), "val_acc": best - 0.1, "seconds": 1.0},
        {"epoch": 2, "lr": 0.003, "train_loss": 0.5, "val_loss": 1 - best, "val_acc": best, "seconds": 1.0},
    ]
    run.write_history(rows)
    run.write_summary({
        "status": status, "task": "classification", "best_metric": "val_acc", "mode": "max", "best_value": best, "best_epoch": 2,
        "seed": seed, "wall_s": 2.0, "metrics": {"val_acc": best, "test_acc": best - 0.01 if test is None else test},
    })
    return run
