"""What ``vislab train --resume RUN key=value`` may change, and what it records when it does.

A resumed run continues the run its checkpoint holds. Settings that only say how long and how visibly to
keep going (epochs, patience, progress, checkpoint cadence, loader workers, evaluation, where the same data
now lives) may change; they are applied, recorded in summary.json ("extended from 10 to 20 epochs at epoch
10") and the learning-rate schedule is re-planned for the new length from the current step, as timm does
when a resumed run is given more epochs. Any other difference from the config stored in the checkpoint, given
on the command line or edited into config.yaml, would silently make a different run (another split, another
rate): bad input naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import flatten
from ..errors import VislabError

RESUMABLE = (
    "description", "train.epochs", "train.patience", "train.progress", "train.checkpoint_every_steps",
    "train.eval_batch_size", "data.num_workers", "data.root", "data.download", "eval.",
)


ALLOWED = "train.epochs/patience/progress/checkpoint_every_steps/eval_batch_size, data.num_workers/root/download, eval.*"


def resumable(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUMABLE)


def changed_settings(
    trained: dict[str, Any], now: dict[str, Any], overrides: dict[str, Any], config_path: Path, epochs_done: int,
) -> dict[str, tuple[Any, Any]]:
    """The settings that differ from the run's checkpoint, as {key: (then, now)}; bad input names the first
    one that may not change on resume. ``trained`` and ``now`` are resolved configs as plain dicts."""
    before, after = flatten(trained), flatten(now)
    changes = {k: (before.get(k), after.get(k)) for k in sorted(before.keys() | after.keys()) if before.get(k) != after.get(k)}
    for key, (old, new) in changes.items():
        if not resumable(key):
            where = "on the command line" if key in overrides else f"in {config_path}"
            raise VislabError(
                f"{key} cannot change on resume: trained with {old!r}, now {new!r} {where}; only {ALLOWED} may. "
                f"Start a new run to change {key}"
            )
    epochs = after.get("train.epochs")
    if isinstance(epochs, int) and epochs < epochs_done:
        raise VislabError(f"train.epochs={epochs} is below the {epochs_done} epochs this run has trained; give at least {epochs_done}")
    return {k: v for k, v in changes.items() if k != "description"}


def change_notes(changes: dict[str, tuple[Any, Any]], epoch: int) -> list[str]:
    """What summary.json records: 'extended from 10 to 20 epochs at epoch 10', 'train.patience 5 -> 8 at epoch 10'."""
    notes = []
    for key, (old, new) in changes.items():
        if key == "train.epochs":
            verb = "extended" if new > old else "shortened"
            notes.append(f"{verb} from {old} to {new} epochs at epoch {epoch}")
        else:
            notes.append(f"{key} {old} -> {new} at epoch {epoch}")
    return notes


def replanned(checkpoint: dict[str, Any], sched: Any, epochs: int) -> dict[str, Any]:
    """``checkpoint`` with its schedule planned for ``epochs`` from its current step: the saved LambdaLR
    parameters (their length among them, which loading would restore) and each parameter group's rate."""
    from .optim import LrFactor

    saved = checkpoint["scheduler"]
    step = saved["last_epoch"]
    optimizer = {**checkpoint["optimizer"], "param_groups": [dict(g) for g in checkpoint["optimizer"]["param_groups"]]}
    plans = []
    for group, base, plan in zip(optimizer["param_groups"], saved["base_lrs"], saved["lr_lambdas"]):
        factor = LrFactor(sched, base, plan["steps_per_epoch"], epochs)  # batches per epoch cannot change on resume
        group["lr"] = base * factor(step)
        plans.append(dict(vars(factor)))
    scheduler = {**saved, "lr_lambdas": plans, "_last_lr": [g["lr"] for g in optimizer["param_groups"]]}
    return {**checkpoint, "optimizer": optimizer, "scheduler": scheduler}
