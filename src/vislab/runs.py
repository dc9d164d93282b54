"""The run directory: created once (never overwritten), then read by eval, predict, compare and export.

    RUNS/<recipe>/<YYYYmmdd-HHMMSS>[-<name>]/
      config.yaml  metrics.csv  summary.json  checkpoints/{last,best}.pt  events.out.tfevents.*  artifacts/
"""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import json
import os
import re
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from . import config as config_mod
from .atomic import atomic_write, atomic_write_text
from .data_info import DataInfo
from .errors import VislabError

LOCK = ".lock"  # held (flock) by the process that trains the run
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=,+-]*$")


def check_name(name: str) -> None:
    """A ``--name`` (of a run or a sweep) becomes a folder name: a safe one, or bad input."""
    if not _NAME.match(name):
        raise VislabError(f"--name '{name}' may use ASCII letters, digits and . _ - = , + only, starting with a letter or digit")


def default_runs_dir() -> Path:
    """``$VISLAB_RUNS``, else ./runs."""
    return Path(os.environ.get("VISLAB_RUNS") or "runs")


def ensure_dir(path: Path, what: str = "runs directory", fix: str = "choose another with --runs-dir") -> Path:
    """Create ``path`` (and parents) and check that files can be written in it, or say why not (and ``fix``),
    as bad input."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise VislabError(f"cannot use {what} {path}: it is a file, not a folder; {fix}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".vislab-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise VislabError(f"cannot use {what} {path}: {reason}; {fix}") from None
    return path


class Run:
    """One training run on disk."""

    def __init__(self, path: Path | str) -> None:
        self.dir = Path(path)

    def __repr__(self) -> str:
        return f"Run('{self.dir}')"

    # -- creating and finding --------------------------------------------------------------------

    @classmethod
    def create(cls, runs_dir: Path | str, recipe: str, name: Optional[str] = None) -> "Run":
        """A new, empty run directory; an existing one is never reused (a suffix is added instead)."""
        if name is not None:
            check_name(name)
        parent = ensure_dir(Path(runs_dir).expanduser() / recipe)
        stem = time.strftime("%Y%m%d-%H%M%S") + (f"-{name}" if name else "")
        for attempt in range(1000):
            path = parent / (stem if attempt == 0 else f"{stem}-{attempt + 1}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as e:
                raise VislabError(f"cannot create run directory {path}: {e.strerror}; choose another with --runs-dir") from None
            (path / "checkpoints").mkdir()
            (path / "artifacts").mkdir()
            return cls(path)
        raise VislabError(f"cannot create a run directory under {parent}: too many runs named {stem}")

    @classmethod
    def load(cls, path: Path | str) -> "Run":
        """An existing run directory; anything else is bad input."""
        p = Path(path).expanduser()
        if not p.is_dir():
            raise VislabError(f"run directory {p} does not exist")
        if not (p / "config.yaml").is_file():
            raise VislabError(f"{p} is not a run directory (it has no config.yaml)")
        return cls(p)

    # -- contents ---------------------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.dir / "config.yaml"

    @property
    def artifacts(self) -> Path:
        return self.dir / "artifacts"

    def checkpoint_path(self, which: str = "last") -> Path:
        """``checkpoints/<which>.pt`` (which: last or best)."""
        return self.dir / "checkpoints" / f"{which}.pt"

    def checkpoint_file(self, name: str) -> Path:
        """``checkpoints/<name>.pt`` for a ``--checkpoint`` name (best, last, ema, averaged ...) that exists;
        a missing one is bad input naming the file and the checkpoints the run has."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
            raise VislabError(f"--checkpoint '{name}' is a checkpoint name such as best, last or ema, not a path")
        path = self.checkpoint_path(name)
        if not path.is_file():
            have = sorted(p.stem for p in (self.dir / "checkpoints").glob("*.pt"))
            how = {"averaged": " (train with train.average_last=K to write one)"}.get(name, "")
            raise VislabError(f"{path} does not exist: this run has no '{name}' checkpoint{how} (it has: {', '.join(have) or 'none'})")
        return path

    @property
    def config(self) -> "config_mod.Config":
        """The resolved config the run was trained with."""
        return config_mod.resolve(self.config_path)

    @property
    def summary(self) -> dict[str, Any]:
        """summary.json; empty before training wrote it."""
        path = self.dir / "summary.json"
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            raise VislabError(f"{path} is not valid JSON; the run directory is damaged") from None

    @property
    def history(self) -> list[dict[str, Any]]:
        """metrics.csv as one dict per epoch (numbers as float, epoch as int)."""
        path = self.dir / "metrics.csv"
        if not path.is_file():
            return []
        with open(path, newline="") as f:
            return [{k: _number(k, v) for k, v in row.items()} for row in csv.DictReader(f)]

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_text(self.dir / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")

    def update_summary(self, **fields: Any) -> dict[str, Any]:
        summary = {**self.summary, **fields}
        self.write_summary(summary)
        return summary

    def write_history(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite metrics.csv from ``rows`` (columns: union of the rows' keys, in first-seen order)."""
        columns: list[str] = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)

        def write(f: Any) -> None:
            import io

            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
            w.writeheader()
            for row in rows:
                w.writerow({k: _fmt(v) for k, v in row.items()})
            f.write(buf.getvalue().encode())

        atomic_write(self.dir / "metrics.csv", write)


def is_first_process() -> bool:
    """Whether this process is the first (rank 0) of a training run, from what a launcher (Lightning Fabric,
    torchrun) put in the environment: true for a single process, and for the first before it starts the rest."""
    env = os.environ
    if env.get("RANK"):
        return int(env["RANK"]) == 0
    return int(env.get("LOCAL_RANK") or 0) == 0 and int(env.get("NODE_RANK") or env.get("GROUP_RANK") or 0) == 0


@contextmanager
def training_lock(run: Run) -> Iterator[None]:
    """Hold ``RUN/.lock`` while training ``run`` (on the first process only; removed after): a second `vislab
    train --resume` of the run is bad input while this one trains, and the operating system releases the lock
    however the process ends, so a killed run can be resumed. A run directory deleted (or moved) while it trains turns
    the error that follows into bad input naming it."""
    if not is_first_process():
        yield
        return
    path = run.dir / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise VislabError(f"{run.dir} is being trained by {holder}; wait for it to end (or stop it) before resuming it") from None
        if not _unlinked(path, fd):
            break
        os.close(fd)  # its holder removed it between our open and our lock: lock the file now there
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        try:
            yield
        except Exception:
            if _unlinked(path, fd):
                raise VislabError(f"run directory {run.dir} was deleted while it trained; training stopped") from None
            raise
    finally:
        if not _unlinked(path, fd):
            path.unlink()  # while still held, so that no other process holds a file no longer there
        os.close(fd)


def _unlinked(path: Path, fd: int) -> bool:
    """Whether the file open as ``fd`` is no longer at ``path`` (its folder deleted or moved)."""
    try:
        return os.stat(path).st_ino != os.fstat(fd).st_ino
    except OSError:
        return True


def _number(key: str, value: str) -> Any:
    if value in ("", None):
        return None
    try:
        return int(value) if key == "epoch" else float(value)
    except ValueError:
        return value


def _fmt(v: Any) -> Any:
    return repr(v) if isinstance(v, float) else v  # shortest text that reads back to the same float


def find_runs(root: Path | str) -> Iterator[Run]:
    """Every run directory at or below ``root``, in path order."""
    root = Path(root).expanduser()
    if (root / "config.yaml").is_file():
        yield Run(root)
        return
    for cfg in sorted(root.rglob("config.yaml")):
        if (cfg.parent / "checkpoints").is_dir() or (cfg.parent / "summary.json").is_file():
            yield Run(cfg.parent)


def recent_runs(root: Path | str, last: int = 20) -> list[dict[str, str]]:
    """The ``last`` most recently changed runs at or below ``root``, newest first: status, epochs done of
    planned, best value, directory (what `vislab runs` prints; a killed run still says "running")."""
    def changed(run: Run) -> float:
        return max((p.stat().st_mtime for p in (run.dir / "summary.json", run.dir) if p.exists()), default=0.0)

    rows = []
    for run in sorted(find_runs(root), key=changed, reverse=True)[:last]:
        try:
            summary = run.summary
        except VislabError:
            summary = {"status": "damaged"}
        planned = _planned_epochs(run)
        best = summary.get("best_value")
        rows.append({
            "status": str(summary.get("status", "starting")),
            "epochs": f"{summary.get('epochs_completed', 0)}/{planned}",
            "best": f"{summary.get('best_metric')} {best:.4f}" if isinstance(best, float) else "-",
            "dir": str(run.dir),
        })
    return rows


def _planned_epochs(run: Run) -> str:
    import yaml

    try:
        return str(((yaml.safe_load(run.config_path.read_text()) or {}).get("train") or {}).get("epochs", "?"))
    except (OSError, yaml.YAMLError):
        return "?"


def load_run(path: Path | str) -> Run:
    """``vislab.load_run(path)``: an existing run directory."""
    return Run.load(path)


def write_data_info(run: Run, info: DataInfo) -> None:
    """data_info.json: what predict needs to know about the data (classes, channels, statistics) without it."""
    atomic_write_text(run.dir / "data_info.json", json.dumps(dataclasses.asdict(info), indent=2) + "\n")


def read_data_info(run: Run) -> Optional[DataInfo]:
    """The DataInfo saved by ``write_data_info``, or None for a run that has none."""
    path = run.dir / "data_info.json"
    if not path.is_file():
        return None
    values = json.loads(path.read_text())
    if values.get("image_size") is not None:
        values["image_size"] = tuple(values["image_size"])
    return DataInfo(**values)
