"""CPU threads on a shared machine: how many, and how they wait.

Why this exists: torch's OpenMP threads spin while they wait for work (libgomp's default). On a laptop with
a browser open, or under a sweep with ``--workers 2``, a spinning thread holds a core that another process
needs, and every parallel region ends at a barrier that waits for the thread the OS preempted: on 2 shared
cores the shapes UNet trained at 12.4 img/s with 2 threads against 40-43 img/s with one thread or with
passive waiting. On an idle machine, though, spinning is 15-25% faster than passive waiting. So, unless the
user said otherwise:

- the thread count is the cores this process can actually get: the cores it may run on, less those that
  other processes keep busy (from ``/proc/stat``), re-checked at every epoch start from the CPU time used
  over the epoch, so no pause is needed to measure. One thread has no one to wait for;
- threads wait passively (``OMP_WAIT_POLICY=PASSIVE``) when the machine is already busy as the process
  starts. OpenMP reads this once, when it starts, so it has to be in the environment before torch is
  imported: ``vislab train`` calls :func:`prepare_process` first thing.

``OMP_NUM_THREADS``/``OMP_WAIT_POLICY``/``GOMP_SPINCOUNT`` in the environment, and ``train.threads``, are the
user's word and are never changed. This module does not import torch at import time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Optional

WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
MIN_WINDOW = 1.0  # seconds of CPU accounting a recheck needs


def prepare_process(probe_seconds: float = 0.1) -> None:
    """Passive OpenMP waiting for this process and its children when other processes keep a core busy now,
    unless the user chose a wait policy. Call before torch is imported; later it changes nothing here."""
    if any(v in os.environ for v in WAIT_VARIABLES):
        return
    first = sample()
    if first is None:
        return
    time.sleep(probe_seconds)
    if busy_elsewhere(first, sample()) >= 0.5:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass
class CpuSample:
    """Machine-wide busy CPU seconds (from /proc/stat), this process's CPU seconds, and the wall clock."""

    busy: float
    own: float
    wall: float


def sample() -> Optional[CpuSample]:
    """A snapshot to measure other processes' load against; None where /proc/stat is not readable."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    t = os.times()
    return CpuSample(busy=(sum(ticks[:8]) - idle) / hz, own=t.user + t.system, wall=time.monotonic())


def busy_elsewhere(before: CpuSample, after: CpuSample) -> float:
    """Cores kept busy by other processes between two samples (0.0 when nothing else ran)."""
    wall = after.wall - before.wall
    if wall <= 0:
        return 0.0
    return max(0.0, ((after.busy - before.busy) - (after.own - before.own)) / wall)


def threads_for(cores: int, others: float) -> int:
    """Threads that fit beside ``others`` busy cores: the free cores, rounded, at least one."""
    return max(1, min(cores, int(cores - others + 0.5)))


class ThreadPlanner:
    """Sets torch's intra-op threads from what this process can get, now and at each epoch start.

    ``fixed``: a count the user chose (``train.threads``); with it, or with ``OMP_NUM_THREADS`` set, the
    planner sets that count once and never measures.
    """

    def __init__(self, fixed: Optional[int] = None, share: Optional[int] = None) -> None:
        env = os.environ.get("OMP_NUM_THREADS")
        self.fixed = fixed if fixed is not None else (int(env) if env and env.isdigit() and int(env) > 0 else None)
        self.cores = share or usable_cores()
        self.last: Optional[CpuSample] = None
        self.threads: Optional[int] = None

    def start(self, probe_seconds: float = 0.2) -> int:
        """The first count: measured over a short pause (nothing of ours runs then)."""
        if self.fixed is not None:
            return self._apply(self.fixed)
        first = sample()
        if first is None:
            return self._apply(self.cores)
        time.sleep(probe_seconds)
        self.last = sample()
        return self._apply(threads_for(self.cores, busy_elsewhere(first, self.last)))

    def recheck(self) -> int:
        """At an epoch start: the count for the load measured since the last check, once that spans
        ``MIN_WINDOW`` seconds (CPU times tick in hundredths of a second: over a short epoch, one tick
        of someone else's would read as a busy core)."""
        if self.fixed is not None or self.last is None:
            return self.threads or self.start()
        now = sample()
        if now is not None and now.wall - self.last.wall < MIN_WINDOW:
            return self.threads or self.start()
        others = busy_elsewhere(self.last, now) if now is not None else 0.0
        self.last = now
        return self._apply(threads_for(self.cores, others))

    def _apply(self, n: int) -> int:
        import torch

        if n != torch.get_num_threads():
            torch.set_num_threads(n)
        self.threads = n
        return n
