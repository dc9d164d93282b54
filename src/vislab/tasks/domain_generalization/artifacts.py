"""Domain-generalization artifacts: per_domain.csv."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

import torch



def write_domain_table(
    path: Path, domains: list[str], domain: torch.Tensor, hit: torch.Tensor, domain_hit: Optional[torch.Tensor]
) -> None:
    """per_domain.csv from per-sample domain ids [N], class hits [N] and domain-head hits [N] (or None)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["domain", "support", "correct", "accuracy", *(["domain_accuracy"] if domain_hit is not None else [])])
        for i, name in enumerate(domains):
            mine = domain == i
            n = int(mine.sum())
            row = [name, n, int(hit[mine].sum()), f"{float(hit[mine].float().mean()):.4f}" if n else ""]
            if domain_hit is not None:
                row.append(f"{float(domain_hit[mine].float().mean()):.4f}" if n else "")
            w.writerow(row)
