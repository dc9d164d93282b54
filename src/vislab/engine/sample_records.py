"""The per-sample records of a finished run's splits (records/<split>.npz), collected from the (outputs, batch)
pairs of an evaluation pass that runs anyway: the test metrics' pass, the validation artifacts' pass, `vislab
eval`'s pass; never a pass of their own."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from .. import records
from ..tasks.base import Task


class RecordRows:
    """The task's per-image rows of one split, gathered batch by batch: call it with each (outputs, batch)
    (``evaluate``'s ``each``), or pass the pairs through ``passing``; then ``write``."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.rows: list[dict[str, Any]] = []

    def __call__(self, outputs: Any, batch: dict) -> None:
        self.rows.append(self.task.sample_records(outputs, batch))

    def passing(self, pairs: Iterable[tuple[Any, dict]]) -> Iterator[tuple[Any, dict]]:
        """``pairs`` unchanged, each recorded on its way through."""
        for outputs, batch in pairs:
            self(outputs, batch)
            yield outputs, batch

    def write(self, run_dir: Path, split: str, checkpoint: str = "best") -> Optional[Path]:
        """records/<split>.npz (see vislab.records.write); None when the task keeps no records."""
        return records.write(run_dir, split, self.rows, checkpoint)


def drain(pairs: Iterator[Any]) -> None:
    """Run what is left of a pass: a consumer that stopped early (or read nothing) leaves records to make."""
    deque(pairs, maxlen=0)
