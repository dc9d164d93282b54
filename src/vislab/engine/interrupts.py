"""Ctrl-C (SIGINT) taken at a step boundary, so the checkpoint saved on the way out is exact.

A signal arriving mid-step (between the optimizer update and the step counter, say) would leave a
state that resumes one step off. While ``deferred_interrupts`` is active the first signal only sets
a flag; the loop calls ``interruption_point()`` between steps and raises ``Interrupted`` there. A
second signal interrupts at once with a plain KeyboardInterrupt, and then nothing is saved.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

_pending = False


class Interrupted(KeyboardInterrupt):
    """Raised at a step boundary after Ctrl-C: the training state is consistent."""


def _handle(signum: int, frame: object) -> None:
    global _pending
    if _pending:
        raise KeyboardInterrupt
    _pending = True


@contextmanager
def deferred_interrupts(enabled: bool = True) -> Iterator[None]:
    """Hold SIGINT until the next ``interruption_point()``.

    Only in the main thread (signal handlers cannot be installed elsewhere) and only when
    ``enabled``: with several processes the ranks would stop at different steps and deadlock
    in the next collective, so there a signal interrupts at once as usual.
    """
    global _pending
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    _pending = False
    previous = signal.signal(signal.SIGINT, _handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _pending = False


def interruption_point() -> None:
    """Raise ``Interrupted`` when a signal arrived since the last call; a no-op otherwise."""
    global _pending
    if _pending:
        _pending = False
        raise Interrupted
