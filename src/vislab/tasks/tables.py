"""Tables every task writes among its artifacts: CSV for programs, Markdown for people."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Sequence


def write_tables(stem: Path, header: Sequence[str], rows: Sequence[Sequence[Any]], footer: str) -> None:
    """One table as STEM.csv, and as STEM.md with ``footer`` below it."""
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    stem.with_suffix(".md").write_text("\n".join(lines) + f"\n\n{footer}\n")


def fmt_number(v: float) -> str:
    """A score with 4 decimals; nan as an empty cell."""
    return "" if math.isnan(v) else f"{v:.4f}"
