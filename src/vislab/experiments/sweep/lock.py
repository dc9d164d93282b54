"""The lock file that serializes study creation, queue changes and claims among the processes of one machine."""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def locked(sweep_dir: Path) -> Iterator[None]:
    """Serialize study creation, queue changes and claims among the processes of this machine (SQLite has
    no row locks; a server database's row locks do the same between machines)."""
    with open(sweep_dir / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
