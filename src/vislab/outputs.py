"""Where a verb writes (``--out``): checked before anything is computed, so a mistake costs no time and leaves
nothing half-written. No torch here: these checks run before the heavy imports."""

from __future__ import annotations

from pathlib import Path

from .errors import VislabError


def png_file(out: str | Path, default_name: str) -> Path:
    """``--out`` naming a PNG file to create or replace, in a folder that exists."""
    path = Path(out).expanduser()
    if path.is_dir():
        raise VislabError(f"--out {path} is a folder; name the PNG to write, e.g. --out {path / default_name}")
    if path.suffix.lower() != ".png":
        raise VislabError(f"--out {path}: the picture is written as a .png file; give a name ending in .png")
    if not path.parent.is_dir():
        raise VislabError(f"cannot write {path}: folder {path.parent} does not exist")
    return path


def csv_file(out: str | Path, default_name: str) -> Path:
    """``--out`` naming a CSV file to create or replace, in a folder that exists."""
    path = Path(out).expanduser()
    if path.is_dir():
        raise VislabError(f"--out {path} is a folder; predictions of this run are a CSV file, e.g. --out {path / default_name}")
    if not path.parent.is_dir():
        raise VislabError(f"cannot write {path}: folder {path.parent} does not exist")
    return path


def new_folder(out: Path) -> Path:
    """``--out`` as a folder to write into: created when missing; a file there is bad input."""
    if out.exists() and not out.is_dir():
        raise VislabError(f"--out {out} is a file; predictions of this run are a folder of PNGs, e.g. --out {out.with_suffix('')}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VislabError(f"cannot create output folder {out}: {e.strerror}; choose another with --out") from None
    return out
