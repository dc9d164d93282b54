"""Whether a RUNNING trial still has a process: this machine's trials by their pid; the others by the
heartbeats Optuna records (storage.GRACE_S)."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from .storage import GRACE_S

HOST = socket.gethostname()


def lost(trial: Any) -> bool:
    """A running trial nobody runs: its process on this machine is gone, or it was killed while being claimed."""
    if "host" not in trial.user_attrs:  # claiming sets it a moment after the trial starts
        return trial.datetime_start is None or time.time() - trial.datetime_start.timestamp() > GRACE_S
    return trial.user_attrs["host"] == HOST and not alive(trial.user_attrs.get("pid"))


def alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
