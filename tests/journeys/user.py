"""What the journeys share: vislab run as a user runs it (every command a subprocess, the default display, runs
under one folder), the image files a user has, and the board fetched over HTTP."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from conftest import SRC

# Training that takes seconds: a journey checks the path a user takes, not what a model learns.
SHORT = ("train.epochs=2", "train.limit_batches=2")
BOARD_WAIT_S = 120  # the machine may be busy


def tail(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\nstdout: {proc.stdout[-1500:]}\nstderr: {proc.stderr[-3000:]}"


class User:
    """A user's shell in ``home``: runs go to home/runs ($VISLAB_RUNS), commands start in home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.runs = home / "runs"
        self.env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONUNBUFFERED": "1", "VISLAB_RUNS": str(self.runs),
                    "VISLAB_DATA": str(home / "data"), "MPLBACKEND": "Agg"}
        self.env.pop("OMP_NUM_THREADS", None)

    def command(self, *args: object) -> list[str]:
        return [sys.executable, "-m", "vislab", *map(str, args)]

    def run(self, *args: object) -> subprocess.CompletedProcess:
        """``vislab ARGS``, whatever its exit code."""
        return subprocess.run(self.command(*args), capture_output=True, text=True, env=self.env, cwd=self.home,
                              timeout=900)

    def ok(self, *args: object) -> subprocess.CompletedProcess:
        """``vislab ARGS``, which must succeed."""
        proc = self.run(*args)
        assert proc.returncode == 0, f"vislab {' '.join(map(str, args))}\n{tail(proc)}"
        return proc

    def train(self, *args: object) -> tuple[subprocess.CompletedProcess, Path]:
        """``vislab train ARGS`` -> (the process, the run directory it announced)."""
        proc = self.ok("train", *args)
        found = re.search(r"^run directory: (.+)$", proc.stdout, re.M)
        assert found, f"no 'run directory:' line\n{tail(proc)}"
        return proc, Path(found.group(1))


def summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "summary.json").read_text())


def printed(text: str) -> dict[str, float]:
    """The ``name  value`` lines that `vislab eval` prints."""
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(\w+)\s+(-?[\d.]+(?:e-?\d+)?)$", text, re.M)}


def check_trained(proc: subprocess.CompletedProcess, run_dir: Path, epochs: int = 2) -> dict[str, Any]:
    """What a user sees after `vislab train`: the live display on stderr (piped: plain lines), a completed run
    directory with its files, and a final line naming the best value that summary.json holds."""
    for epoch in range(1, epochs + 1):
        assert f"epoch {epoch}/{epochs}  50% (1/2)" in proc.stderr, proc.stderr[-2000:]  # the running display
    done = summary(run_dir)
    assert done["status"] == "completed" and done["epochs_completed"] == epochs
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} >= {"best.pt", "last.pt"}
    assert (run_dir / "config.yaml").is_file() and (run_dir / "metrics.csv").read_text().count("\n") == epochs + 1
    assert f"best {done['best_metric']} {done['best_value']:.4f} at epoch {done['best_epoch']}" in proc.stdout
    return done


def listed(user: User, *run_dirs: Path) -> str:
    """`vislab runs`: each run on a line with its status and epochs."""
    out = user.ok("runs").stdout
    for run_dir in run_dirs:
        line = next((line for line in out.splitlines() if line.endswith(str(run_dir))), None)
        assert line is not None, out
        done = summary(run_dir)
        assert line.startswith("completed") and f"{done['epochs_completed']}/{done['epochs_completed']}" in line
        assert f"{done['best_metric']} {done['best_value']:.4f}" in line
    return out


def digit_photos(folder: Path, rgb_background: bool = False) -> list[Path]:
    """Photographed digits as a user keeps them: PNG and JPEG files of varied sizes, not the 8x8 arrays."""
    from sklearn.datasets import load_digits

    folder.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    files = []
    for i, (size, suffix) in enumerate([(32, "png"), (48, "png"), (40, "jpg"), (64, "jpeg")]):
        pixels = (digits.images[i] * 255 / 16).astype(np.uint8)
        image = Image.fromarray(pixels).resize((size, size), Image.BILINEAR)
        if rgb_background or suffix != "png":
            image = image.convert("RGB")
        path = folder / f"digit{i}_{digits.target[i]}.{suffix}"
        image.save(path)
        files.append(path)
    return files


def shape_photos(folder: Path) -> list[Path]:
    """Pictures of shapes a user drew: a circle, a rectangle and a triangle on a grey ground, PNG and JPEG, one
    of them at a size other than the training scenes'."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, (size, suffix) in enumerate([((64, 64), "png"), ((96, 80), "jpg"), ((64, 64), "jpeg")]):
        image = Image.new("RGB", size, (120 + 20 * i, 110, 100))
        draw = ImageDraw.Draw(image)
        w, h = size
        draw.ellipse((4, 4, w // 2, h // 2), fill=(230, 40, 40))
        draw.rectangle((w // 2, h // 2, w - 6, h - 4), fill=(30, 200, 60))
        draw.polygon([(6, h - 4), (w // 3, h // 2 + 4), (w // 2 - 2, h - 4)], fill=(40, 60, 230))
        path = folder / f"shapes{i}.{suffix}"
        image.save(path)
        files.append(path)
    return files


def predicted_rows(csv_path: Path) -> dict[str, list[str]]:
    """A classification predictions CSV: file name -> its row."""
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("file,class_1,prob_1"), lines[0]
    return {Path(line.split(",")[0]).name: line.split(",")[1:] for line in lines[1:]}


def check_class_predictions(csv_path: Path, files: list[Path], classes: set[str]) -> dict[str, list[str]]:
    """One row per image file, classes the run knows, probabilities in falling order summing to at most 1."""
    rows = predicted_rows(csv_path)
    assert set(rows) == {f.name for f in files}
    for row in rows.values():
        names, probs = row[0::2], [float(p) for p in row[1::2]]
        assert set(names) <= classes and len(set(names)) == len(names)
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-4
    return rows


def check_exported(run_dir: Path, name: str = "best.onnx") -> dict[str, Any]:
    """`vislab export`'s file and its own check against PyTorch (export.json beside it)."""
    path = run_dir / "export" / name
    assert path.is_file() and path.stat().st_size > 1000
    check = json.loads((run_dir / "export" / "export.json").read_text())[name]
    assert check["max_abs_diff"] < 1e-3 and check["agreement"] >= 0.99, check
    assert abs(check["pytorch"] - check["exported"]) < 1e-3, check
    return check


def check_compare(user: User, *dirs: Path, groups: list[str], metric: str | None = None) -> str:
    """`vislab compare`: a table with a row per group, report.md and report.html written."""
    out_dir = user.home / "report"
    args = [*dirs, "--out", out_dir, *(["--metric", metric] if metric else [])]
    out = user.ok("compare", *args).stdout
    for group in groups:
        assert re.search(rf"^\| {re.escape(group)} \|", out, re.M), out
    assert (out_dir / "report.md").is_file() and (out_dir / "report.html").is_file()
    return out


def board(user: User, *paths: str) -> list[Any]:
    """`vislab board` served on a free port of 127.0.0.1: GET each path (as JSON when it is an API path, the page
    as text), then stop it with Ctrl-C as a user does."""
    proc = subprocess.Popen(user.command("board", user.runs, "--port", "0"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=user.env, cwd=user.home)
    try:
        url = _board_url(proc)
        bodies = [_get(url + path.lstrip("/")) for path in paths]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return [json.loads(body) if path.startswith("/api/") else body for path, body in zip(paths, bodies)]


def _board_url(proc: subprocess.Popen) -> str:
    deadline = time.monotonic() + BOARD_WAIT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            found = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            if found:
                return found.group(1)
        if proc.poll() is not None:
            raise AssertionError(f"vislab board exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
    raise AssertionError("vislab board never printed its address")


def _get(url: str) -> str:
    deadline = time.monotonic() + BOARD_WAIT_S
    while True:
        try:
            with urllib.request.urlopen(url, timeout=BOARD_WAIT_S) as response:
                assert response.status == 200
                return response.read().decode()
        except (ConnectionError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def check_masks(out_dir: Path, photos: list[Path], num_classes: int, panoptic: bool = False) -> dict[str, np.ndarray]:
    """`vislab predict` of a segmentation run: per image a class-id mask PNG of the image's own size and an
    overlay (and for panoptic runs a panoptic PNG), nothing else. Returns the masks by image stem."""
    kinds = ["mask", "overlay", *(["panoptic"] if panoptic else [])]
    assert {p.name for p in out_dir.iterdir()} == {f"{f.stem}_{k}.png" for f in photos for k in kinds}
    masks = {}
    for photo in photos:
        size = Image.open(photo).size
        for kind in kinds:
            assert Image.open(out_dir / f"{photo.stem}_{kind}.png").size == size, (photo, kind)
        masks[photo.stem] = np.asarray(Image.open(out_dir / f"{photo.stem}_mask.png"))
        assert masks[photo.stem].max() < num_classes
    return masks


def same_masks(a: dict[str, np.ndarray], b: dict[str, np.ndarray], agreement: float = 0.99) -> None:
    """Two predictions of the same images agree on (almost) every pixel."""
    assert a.keys() == b.keys()
    for stem in a:
        assert (a[stem] == b[stem]).mean() >= agreement, stem


def best_epoch_row(run_dir: Path) -> dict[str, float]:
    """metrics.csv's row of the best epoch, the one best.pt holds (summary.json's metrics are the last epoch's)."""
    import csv

    best = summary(run_dir)["best_epoch"]
    with open(run_dir / "metrics.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if int(r["epoch"]) == best)
    return {k: float(v) for k, v in row.items() if v}
