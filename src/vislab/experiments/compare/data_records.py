"""Where `vislab data check` files its record of a run's data (<runs>/data_checks/<data identity>.json), and
reading it back: compare notes a leak or a bad mask in the data the runs trained on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional


def record_path(runs_dir: Path, identity: str) -> Path:
    """Where the check of the data ``identity`` is recorded for compare: beside the runs trained on it."""
    return runs_dir / "data_checks" / f"{identity}.json"


def read_record(run_dir: Path, identity: str) -> Optional[dict[str, Any]]:
    """The nearest data check of ``identity`` filed above ``run_dir`` (a run sits in RUNS/<recipe>/, a sweep's
    in RUNS/sweeps/<name>/), or None."""
    for folder in Path(run_dir).resolve().parents:
        path = record_path(folder, identity)
        if path.is_file():
            return json.loads(path.read_text())
    return None
