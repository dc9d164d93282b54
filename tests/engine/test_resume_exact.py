"""Crash-exact resume: a real `vislab train` is killed at chosen moments and resumed; the result must be
bit-identical to an uninterrupted run with the same seed (weights, optimizer, metrics.csv, summary, TensorBoard),
with model EMA and weight averaging on (their weights, counts and averaged.pt too).

Moments are caught by watching the run directory: when one is seen, the process is stopped (SIGSTOP),
the moment is confirmed on the stopped process, and only then is it killed (else it continues).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest
import torch

from vislab.runs import Run

ROOT = Path(__file__).resolve().parents[2]
SAMPLES_SCRIPT = Path(__file__).with_name("digit_samples.py")

EPOCHS = 3
# 160 training images in batches of 8: 20 steps an epoch; last.pt every 8 steps and at every epoch's end.
# The EMA updates every 3rd step, so a checkpoint falls between two updates.
SETTINGS = [f"train.epochs={EPOCHS}", "train.batch_size=8", "data.limit=160", "train.checkpoint_every_steps=8",
            "train.deterministic=true", "train.progress=false", "train.ema.decay=0.9", "train.ema.every_steps=3",
            "train.ema.warmup_steps=4", "train.average_last=2"]
TIMING = {"seconds", "images_per_s"}  # wall-clock columns, the only ones allowed to differ


def start(*args: object, script: Optional[Path] = None) -> subprocess.Popen:
    """``vislab ARGS`` (or ``python SCRIPT ARGS``) as a real process on this checkout's sources."""
    # One thread: the reference runs beside the test's process, and two threads each would fight over 2 cores.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    head = [sys.executable, str(script)] if script else [sys.executable, "-m", "vislab"]
    return subprocess.Popen([*head, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finished(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def run_dir_of(runs: Path, recipe: str = "digits") -> Optional[Path]:
    found = sorted(p for p in (runs / recipe).glob("*/") if (p / "checkpoints").is_dir())
    return found[0] if found else None


class Watch:
    """Reads a running run's last.pt whenever it changes (the write is atomic, so it is always whole)."""

    def __init__(self, runs: Path) -> None:
        self.runs = runs
        self.run: Optional[Path] = None
        self.key: Optional[tuple] = None
        self.state: Optional[dict] = None

    @property
    def checkpoints(self) -> Optional[Path]:
        self.run = self.run or run_dir_of(self.runs)
        return self.run / "checkpoints" if self.run else None

    def last(self) -> Optional[dict]:
        """The training state in last.pt (epoch, step, global_step, ...), or None before the first one."""
        folder = self.checkpoints
        if folder is None:
            return None
        try:
            st = (folder / "last.pt").stat()
            key = (st.st_ino, st.st_mtime_ns)
            if key != self.key:
                self.state = torch.load(folder / "last.pt", map_location="cpu", weights_only=True)["state"]
                self.key = key
        except FileNotFoundError:
            return None
        return self.state

    def writing(self) -> bool:
        """A checkpoint write is under way: its temporary file exists and has not been renamed yet."""
        folder = self.checkpoints
        return folder is not None and any(name.endswith(".tmp") for name in os.listdir(folder))


def stopped(proc: subprocess.Popen) -> bool:
    with open(f"/proc/{proc.pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] in "Tt"


def stop_when(proc: subprocess.Popen, moment: Callable[[], bool], what: str) -> None:
    """Leave ``proc`` stopped at a moment where ``moment()`` holds (checked again once it has stopped)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.communicate()[1][-2000:]}")
        if moment():
            proc.send_signal(signal.SIGSTOP)
            while not stopped(proc):
                time.sleep(0.0005)
            if moment():
                return
            proc.send_signal(signal.SIGCONT)
        time.sleep(0.002)
    raise AssertionError(f"timed out waiting for {what}")


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate()


def killed_mid_epoch_and_resumed(runs: Path, *settings: object, script: Optional[Path] = None) -> Path:
    """A digits run with ``settings`` SIGKILLed mid-epoch (after its first epoch), then resumed to its end; its
    directory."""
    watch = Watch(runs)
    proc = start("train", "--runs-dir", runs, "digits", *settings, script=script)
    stop_when(proc, lambda: (st := watch.last()) is not None and st["epoch"] >= 1 and st["step"] > 0, "mid-epoch")
    kill(proc)
    run = run_dir_of(runs)
    finished(start("train", "--resume", run, script=script))
    return run


def checkpoint(run: Path, which: str) -> dict:
    return torch.load(run / "checkpoints" / f"{which}.pt", map_location="cpu", weights_only=True)


def same(a: object, b: object, where: str = "") -> None:
    """Bit-for-bit equality of nested checkpoint contents, naming the first difference."""
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b), f"differs at {where}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"keys differ at {where}"
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"lengths differ at {where}"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"differs at {where}: {a!r} != {b!r}"


def metrics_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def tensorboard_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run))
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)]
        for tag in events.Tags()["scalars"] if tag not in TIMING
    }


def assert_identical(resumed: Path, reference: Path) -> None:
    resumed_from = ("model", "extra_models", "ema", "optimizer", "average")  # best.pt holds the first three
    for which, keys in (("best", resumed_from[:3]), ("last", resumed_from)):
        a, b = checkpoint(resumed, which), checkpoint(reference, which)
        for key in keys:  # extra_models: an EMA teacher, pseudo-labels
            same(a[key], b[key], f"{which}.{key}")
    same(checkpoint(resumed, "averaged")["model"], checkpoint(reference, "averaged")["model"], "averaged.model")
    assert metrics_rows(resumed) == metrics_rows(reference)
    s, r = (Run(resumed).summary, Run(reference).summary)
    assert s["status"] == "completed"
    for key in ("metrics", "best_value", "best_epoch", "epochs_completed", "skipped_batches"):
        assert s[key] == r[key], key
    assert tensorboard_scalars(resumed) == tensorboard_scalars(reference)
    assert not list(resumed.rglob(".*.tmp")), "the resume left a killed write's temporary file"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Path]]:
    """The uninterrupted run, started at once and running beside the test; call it to wait for its directory."""
    runs = tmp_path_factory.mktemp("reference")
    proc = start("train", "--runs-dir", runs, "digits", *SETTINGS)

    def done() -> Path:
        if proc.returncode is None:
            finished(proc)
        return run_dir_of(runs)

    yield done
    if proc.poll() is None:
        kill(proc)


@pytest.mark.slow
def test_killed_at_any_moment_the_resumed_run_is_bit_identical(tmp_path: Path, reference: Callable[[], Path]):
    runs = tmp_path / "runs"
    watch = Watch(runs)

    # 1. SIGKILL while a checkpoint is being written (not the first): the previous one stays whole and the
    #    resume recomputes the steps since.
    proc = start("train", "--runs-dir", runs, "digits", *SETTINGS)
    stop_when(proc, lambda: watch.writing() and (watch.checkpoints / "last.pt").is_file(), "a checkpoint write")
    kill(proc)
    run = run_dir_of(runs)
    assert list((run / "checkpoints").glob(".*.tmp")), "the kill was meant to cut a write short"
    intact = checkpoint(run, "last")["state"]
    assert intact["global_step"] >= 8
    assert Run(run).summary["status"] == "running"  # nobody could say otherwise: the process died

    # 2. Ctrl-C: last.pt is saved at a step boundary and the run is marked interrupted.
    proc = start("train", "--resume", run)
    stop_when(proc, lambda: watch.last()["global_step"] > intact["global_step"], "progress after the resume")
    periodic = (run / "checkpoints" / "last.pt").stat().st_ino
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == f"vislab: interrupted; resume with: vislab train --resume {run}"
    assert Run(run).summary["status"] == "interrupted"
    assert (run / "checkpoints" / "last.pt").stat().st_ino != periodic  # written on the way out
    saved = checkpoint(run, "last")["state"]
    assert saved["global_step"] >= watch.state["global_step"]

    # 3. SIGKILL right after the last epoch boundary, while the test split and artifacts are being made.
    proc = start("train", "--resume", run)
    stop_when(proc, lambda: watch.last()["epoch"] == EPOCHS and Run(run).summary["status"] == "running", "the end")
    kill(proc)

    # 4. The last resume only finishes; everything matches the run that was never interrupted.
    finished(start("train", "--resume", run))
    assert_identical(run, reference())


@pytest.mark.slow
def test_dataloader_workers_resume_bit_identical_to_the_in_memory_run(tmp_path: Path, reference: Callable[[], Path]):
    """The same images served one at a time by two worker processes train exactly as the in-memory split,
    killed mid-epoch and resumed or not."""
    settings = [*SETTINGS, "data.name=digit-samples", "data.num_workers=2"]
    run = killed_mid_epoch_and_resumed(tmp_path / "runs", *settings, script=SAMPLES_SCRIPT)
    assert_identical(run, reference())


MEAN_TEACHER = [*SETTINGS[1:], "train.epochs=2", "data.limit=300", "data.labeled_per_class=8", "semisup.method=mean_teacher",
                "semisup.ratio=2", "semisup.rampup_epochs=1", "train.checkpoint_every_steps=4"]


@pytest.mark.slow
def test_mean_teacher_resumes_its_teacher_and_unlabeled_stream_bit_identical(tmp_path: Path):
    """80 labeled images (10 steps an epoch) beside an unlabeled pool of 220 in batches of 16 (13 an epoch, so
    the streams' epochs end at different steps); killed mid-epoch and resumed, the EMA teacher, the unlabeled
    batches and their strong views continue as in the run that was never stopped."""
    reference_runs = tmp_path / "reference"
    proc_ref = start("train", "--runs-dir", reference_runs, "digits", *MEAN_TEACHER)
    run = killed_mid_epoch_and_resumed(tmp_path / "runs", *MEAN_TEACHER)
    assert "teacher" in checkpoint(run, "last")["extra_models"]
    finished(proc_ref)
    assert_identical(run, run_dir_of(reference_runs))
