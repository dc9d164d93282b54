"""What `vislab sweep` shows: a line per finished trial, and on a terminal a live panel below them with
the points done, running, failed and pending, the best so far, and each running trial's last epoch."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from .space import describe
from .study import SEED_STEP, Sweep


class Display:
    def __init__(self, sweep: Sweep, show: bool = True) -> None:
        self.sweep = sweep
        self.show = show
        self.console = Console(highlight=False, soft_wrap=True)
        self.live: Any = None

    def __enter__(self) -> "Display":
        if self.show:
            spec = self.sweep.spec
            what = "grid points" if spec.search == "grid" else "trials (tpe)"
            if spec.auto:
                what = f"grid points at most (seeds added in rounds, {spec.auto['start']} to {spec.auto['max_seeds']})"
            self.console.print(
                f"sweep {self.sweep.name}: {spec.trials} {what} of {spec.recipe}, "
                f"scored by {spec.monitor} ({'higher' if spec.mode == 'max' else 'lower'} is better)\n"
                f"runs: {self.sweep.dir}"
            )
        if self.show and self.console.is_terminal:
            self.live = Live(self, console=self.console, refresh_per_second=1, transient=True)
            self.live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.stop()

    def started(self, number: int) -> None:
        if self.live is not None:
            self.live.refresh()

    def finished(self, number: int) -> None:
        if self.show:
            trial = next(t for t in self.sweep.trials() if t.number == number)
            self.console.print(f"{trial_line(self.sweep, trial)}  [{self.counts()}]")

    def note(self, text: str) -> None:
        if self.show:
            self.console.print(text)

    def counts(self) -> str:
        c = self.sweep.tally()
        text = f"{c['done'] + c['pruned']}/{self.sweep.planned()} done, {c['running']} running, {c['failed']} failed"
        best = self.sweep.best()
        return text + (f", best {self.sweep.spec.monitor} {best.value:.4f} (trial {best.number})" if best else "")

    def __rich__(self) -> Group:
        lines = [Text(self.counts(), style="bold")]
        for trial in self.sweep.trials():
            if trial.state.name == "RUNNING":
                lines.append(Text("  " + trial_line(self.sweep, trial)))
        return Group(*lines)


def trial_line(sweep: Sweep, trial: Any) -> str:
    """'trial 3  completed  val_acc 0.9331  optim.name=sgd train.seed=0  (2.1 s)'."""
    state = {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running"}.get(trial.state.name, trial.state.name.lower())
    parts = [f"trial {trial.number}", state]
    steps = trial.intermediate_values
    if trial.state.name == "COMPLETE":
        parts.append(f"{sweep.spec.monitor} {trial.value:.4f}")
    elif steps:
        last = max(steps)
        seed = f"seed {last // SEED_STEP} " if sweep.spec.seeds_per_trial > 1 else ""
        parts.append(f"{seed}epoch {last % SEED_STEP}: {sweep.spec.monitor} {steps[last]:.4f}")
    if trial.params:
        parts.append(describe(sweep.space.values(trial.params)))
    if trial.state.name == "FAIL":
        parts.append(str(trial.user_attrs.get("error", "")))
    if trial.duration is not None:
        parts.append(f"({trial.duration.total_seconds():.1f} s)")
    return "  ".join(parts)
