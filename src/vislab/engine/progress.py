"""What the user sees while training: a bar per epoch, then one line per epoch (rank 0 only)."""

from __future__ import annotations

import sys
from typing import Any, Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class EpochProgress:
    def __init__(self, enabled: bool, epochs: int) -> None:
        self.enabled = enabled
        self.epochs = epochs
        self.console = Console(file=sys.stderr, highlight=False, soft_wrap=True)
        self.bar: Optional[Progress] = None
        self.task: Any = None

    @property
    def active(self) -> bool:
        """Whether a bar is showing (a terminal, rank 0, train.progress on)."""
        return self.bar is not None

    def start(self, epoch: int, total: int, done: int) -> None:
        if not self.enabled or not self.console.is_terminal:
            return
        self.bar = Progress(
            TextColumn(f"epoch {epoch + 1}/{self.epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task("train", total=total, completed=done, stats="")

    def update(self, done: int, stats: dict[str, float]) -> None:
        if self.bar is not None:
            text = "  ".join(f"{k} {v:.4g}" if k != "img/s" else f"{v:,.0f} img/s" for k, v in stats.items())
            self.bar.update(self.task, completed=done, stats=text)

    def end(self, row: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        if self.enabled:
            self.console.print(format_row(row, self.epochs))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def format_row(row: dict[str, Any], epochs: int) -> str:
    """'epoch 3/10  lr 0.001  train_loss 0.21  val_acc 0.97 ...  2.1s  5,310 img/s'."""
    parts = [f"epoch {row['epoch']}/{epochs}"]
    for k, v in row.items():
        if k in ("epoch", "seconds", "images_per_s") or v is None:
            continue
        parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
    parts.append(f"{row.get('seconds', 0):.1f}s")
    parts.append(f"{row.get('images_per_s', 0):,.0f} img/s")
    return "  ".join(parts)
