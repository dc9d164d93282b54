"""CPU threads on a shared machine: the wait policy, the load other processes make, the count chosen."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vislab import config
from vislab.engine.hardware import resolve_precision
from vislab.threads import MIN_WINDOW, ThreadPlanner, busy_elsewhere, sample, threads_for

ROOT = Path(__file__).resolve().parents[1]


def wait_policy(env: dict, busy: bool = False) -> str:
    code = "from vislab.threads import prepare_process; prepare_process(); import os; print(os.environ.get('OMP_WAIT_POLICY'))"
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")}
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 if busy else 0)]
    try:
        return subprocess.run([sys.executable, "-c", code], env={**clean, "PYTHONPATH": str(ROOT / "src"), **env},
                              capture_output=True, text=True, check=True).stdout.strip()
    finally:
        for h in hogs:
            h.kill()
            h.wait()


def test_threads_wait_passively_on_a_busy_machine_unless_the_user_chose_a_policy():
    assert wait_policy({}, busy=True) == "PASSIVE"
    assert wait_policy({"OMP_WAIT_POLICY": "ACTIVE"}, busy=True) == "ACTIVE"
    assert wait_policy({"GOMP_SPINCOUNT": "10000"}, busy=True) == "None"  # the user's spin count stands alone


def test_a_busy_process_beside_us_is_measured_and_leaves_us_the_other_cores():
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it get going
        before = sample()
        time.sleep(1.0)
        others = busy_elsewhere(before, sample())
    finally:
        hog.kill()
        hog.wait()
    assert others >= 0.6, others  # one core, give or take the scheduler and whatever else runs here
    assert threads_for(2, others) == 1
    assert threads_for(8, 1.0) == 7 and threads_for(8, 0.2) == 8 and threads_for(1, 3.0) == 1


def test_a_recheck_waits_for_a_window_long_enough_to_measure():
    before = torch.get_num_threads()
    try:
        planner = ThreadPlanner(share=2)
        planner.threads = 2
        now = sample()
        planner.last = dataclasses.replace(now, busy=now.busy - 0.01)  # one tick of someone else's, just now
        assert planner.recheck() == 2 and planner.last.wall == now.wall  # not read as a busy core: kept, still adding up
        planner.last = dataclasses.replace(planner.last, wall=planner.last.wall - MIN_WINDOW)
        planner.recheck()
        assert planner.last.wall > now.wall  # a window that long is measured, and the next one starts
    finally:
        torch.set_num_threads(before)


def test_the_users_thread_count_is_kept(monkeypatch: pytest.MonkeyPatch):
    before = torch.get_num_threads()
    try:
        assert ThreadPlanner(fixed=1).start() == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        planner = ThreadPlanner()
        assert planner.start() == 1 and planner.recheck() == 1 and planner.last is None  # never measured
    finally:
        torch.set_num_threads(before)


def test_precision_auto_is_made_concrete_and_recorded(main, tmp_path: Path):
    cfg = config.resolve("digits", {"train.precision": "auto", "train.accelerator": "cpu"}).train
    assert resolve_precision(cfg) == "32-true"  # bf16 autocast measured slower on CPUs (benchmarks/cpu_formats.py)
    code, out, err = main("train", "digits", "train.precision=auto", "train.accelerator=cpu", "train.epochs=1",
                          "train.progress=false", "data.limit=200", "--runs-dir", tmp_path / "runs")
    assert code == 0, err
    (run,) = (tmp_path / "runs" / "digits").iterdir()
    assert json.loads((run / "summary.json").read_text())["precision"] == resolve_precision(cfg)
