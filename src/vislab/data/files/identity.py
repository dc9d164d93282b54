"""Which data a run trained on, as one short string: `vislab data check` files its findings under it, and
`vislab compare` finds the findings of a run's data by it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

SPLITS = ("train", "val", "test")
LOADER_KEYS = ("num_workers", "sampler", "domains_per_batch", "in_memory", "bootstrap")  # how the data is fed, not what it is


def data_identity(data: dict[str, Any], files: dict[str, list[str]]) -> str:
    """16 hex digits: of the dataset name and each split's files where the data are files (what a run saves in
    splits/<split>.txt, so a moved folder keeps its identity), else of the data.* settings that decide the
    samples (embedded data such as digits)."""
    listed = {s: list(files[s]) for s in SPLITS if files.get(s)}
    what = ({"name": data.get("name"), "files": listed} if listed else
            {k: v for k, v in sorted(data.items()) if k not in LOADER_KEYS})
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_files(run_dir: Path) -> dict[str, list[str]]:
    """A run's splits/<split>.txt as lists of files (empty where the run saved none)."""
    out = {}
    for split in SPLITS:
        path = run_dir / "splits" / f"{split}.txt"
        if path.is_file():
            out[split] = path.read_text().splitlines()
    return out
