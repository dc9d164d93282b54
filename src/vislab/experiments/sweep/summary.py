"""What a sweep says when it ends: the counts, the best trial, the logs of failed points and the command
that continues it."""

from __future__ import annotations

from pathlib import Path

from .autoseeds import look_lines
from .space import FOLD, describe
from .storage import default_storage, masked
from .study import Sweep, attempts, point_states


def summary_lines(sweep: Sweep) -> list[str]:
    """What the CLI prints at the end: counts, the best trial, and where the runs are."""
    counts = sweep.tally()
    text = f"sweep {sweep.name}: {counts['done']} of {sweep.planned()} done"
    for state in ("pruned", "failed", "running", "pending"):
        if counts[state]:
            text += f", {counts[state]} {state}"
    lines = [text]
    best = sweep.best()
    if best is not None:
        lines.append(f"best {sweep.spec.monitor} {best.value:.4f}: trial {best.number} ({describe(sweep.space.values(best.params))})")
    if sweep.spec.auto:
        lines += look_lines(sweep.space, sweep.spec.auto, sweep.trials())
    lines.append(f"runs: {sweep.dir}")
    if counts["failed"] or counts["pending"]:
        lines.append(f"continue with: {resume_command(sweep)}")
    return lines


def failed_logs(sweep: Sweep) -> list[Path]:
    """The log of the last attempt at each point whose attempts all failed."""
    failed = [trials[-1] for point, trials in attempts(sweep).items() if point_states(sweep)[point] == "failed"]
    return [sweep.log_path(t.number) for t in sorted(failed, key=lambda t: t.number)]


def resume_command(sweep: Sweep) -> str:
    """The command that continues this sweep (its storage URL shown without a password): a sweep over the
    folds of a cross-validation continues as `vislab crossval`, which also makes the out-of-fold predictions."""
    verb = "crossval" if FOLD in sweep.space.params else "sweep"
    text = f"vislab {verb} --resume --name {sweep.name} --runs-dir {sweep.dir.parent.parent}"
    if sweep.storage_url != default_storage(sweep.dir):
        text += f" --storage {masked(sweep.storage_url)}"
    return text
