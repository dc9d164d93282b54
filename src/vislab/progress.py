"""What the user sees while work goes on, on stderr: on a terminal a bar, elsewhere (a log file, a pipe) a plain
line every tenth of the work. Training shows one per epoch (rank 0 only), then a line with the headline metrics;
`vislab data check` one over the images it reads. Outside the engine package, so that showing progress does not
import Lightning."""

from __future__ import annotations

import re
import sys
from typing import Any, Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

PLAIN_EVERY = 0.1  # without a terminal: a line per this share of the work
HEADLINE = re.compile(r"^(train|val)_[a-z0-9]+$")  # val_acc, val_miou; not val_iou_<class> or val_acc_<domain>
RUNNING = re.compile(r"^([a-z0-9]+|img/s)$")  # the bar's running values: loss, acc, miou, pq; not iou_<class>


class EpochProgress:
    def __init__(self, enabled: bool, epochs: int, monitor: Optional[str] = None) -> None:
        self.enabled = enabled
        self.epochs = epochs
        self.monitor = monitor
        self.console = Console(file=sys.stderr, highlight=False, soft_wrap=True)
        self.bar: Optional[Progress] = None
        self.task: Any = None
        self.plain: Optional[dict[str, Any]] = None  # epoch, total and next step to print, without a terminal

    def due(self, done: int) -> bool:
        """Whether progress after ``done`` steps is shown: always on a bar, every tenth of an epoch in plain lines
        (so the running metrics are computed only when shown)."""
        if self.plain is not None:
            return self.plain["next"] <= done < self.plain["total"]
        return self.bar is not None

    def start(self, epoch: int, total: int, done: int) -> None:
        if not self.enabled:
            return
        if not self.console.is_terminal:
            self.plain = {"epoch": epoch, "total": total, "next": done + max(1, round(total * PLAIN_EVERY))}
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
        shown = {k: v for k, v in stats.items() if RUNNING.match(k)}
        text = "  ".join(f"{k} {v:.4g}" if k != "img/s" else f"{v:,.0f} img/s" for k, v in shown.items())
        if self.bar is not None:
            self.bar.update(self.task, completed=done, stats=text)
        elif self.plain is not None and self.due(done):
            total = self.plain["total"]
            self.plain["next"] = done + max(1, round(total * PLAIN_EVERY))
            self.console.print(f"epoch {self.plain['epoch'] + 1}/{self.epochs}  {100 * done // total}% ({done}/{total})  {text}")

    def end(self, row: dict[str, Any]) -> None:
        self.close()
        if self.enabled:
            self.console.print(format_row(row, self.epochs, self.monitor))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        self.plain = None


def format_row(row: dict[str, Any], epochs: int, monitor: Optional[str] = None) -> str:
    """'epoch 3/10  lr 0.001  train_loss 0.21  val_loss 0.1  val_acc 0.97 ...  2.1s  5,310 img/s': the monitored
    metric first, then the other headline ones; per-class and per-domain values stay in metrics.csv."""
    parts = [f"epoch {row['epoch']}/{epochs}", *_shown("lr", row.get("lr"))]
    keys = [k for k in row if HEADLINE.match(k) and k != monitor]
    losses = [k for k in keys if k.endswith("_loss")]
    for key in [*losses, *([monitor] if monitor in row else []), *(k for k in keys if k not in losses)]:
        parts.extend(_shown(key, row[key]))
    parts.append(f"{row.get('seconds', 0):.1f}s")
    parts.append(f"{row.get('images_per_s', 0):,.0f} img/s")
    return "  ".join(parts)


def _shown(key: str, value: Any) -> list[str]:
    if value is None:
        return []
    return [f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"]


class CountProgress:
    """Progress through a count of items (images read), shown as an epoch is: on stderr, a bar on a terminal,
    elsewhere a plain line every tenth."""

    def __init__(self, what: str, enabled: bool = True) -> None:
        self.what = what
        self.enabled = enabled
        self.console = Console(file=sys.stderr, highlight=False, soft_wrap=True)
        self.bar: Optional[Progress] = None
        self.task: Any = None
        self.next = 0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.console.is_terminal:
            if self.bar is None:
                self.bar = Progress(TextColumn(self.what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                    TimeRemainingColumn(), console=self.console, transient=True)
                self.bar.start()
                self.task = self.bar.add_task(self.what, total=total)
            self.bar.update(self.task, completed=done)
        elif done >= (self.next or max(1, round(total * PLAIN_EVERY))) or done == total:
            self.next = done + max(1, round(total * PLAIN_EVERY))
            self.console.print(f"{self.what}  {100 * done // max(total, 1)}% ({done}/{total})")
        if done == total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def __enter__(self) -> "CountProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()  # an error or Ctrl-C mid-way leaves no bar behind
