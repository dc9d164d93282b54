"""Where a verb writes (``--out``): checked before anything is computed, so a mistake costs no time and leaves
nothing half-written. No torch here: these checks run before the heavy imports."""

from __future__ import annotations

from pathlib import Path

from .errors import VislabError


def out_file(out: str | Path, default_name: str, strict_suffix: bool = True) -> Path:
    """``--out`` naming a file to create or replace (ending like ``default_name`` when ``strict_suffix``),
    in a folder that exists."""
    path = Path(out).expanduser()
    suffix = Path(default_name).suffix
    if path.is_dir():
        raise VislabError(f"--out {path} is a folder; this writes a {suffix} file: give its name, e.g. --out {path / default_name}")
    if strict_suffix and path.suffix.lower() != suffix:
        raise VislabError(f"--out {path}: this writes a {suffix} file; give a name ending in {suffix}")
    if not path.parent.is_dir():
        raise VislabError(f"cannot write {path}: folder {path.parent} does not exist")
    return path


def out_folder(out: Path) -> Path:
    """``--out`` as a folder to write files into: created when missing, checked to take files."""
    from .runs import ensure_dir

    if out.exists() and not out.is_dir():
        raise VislabError(f"--out {out} is a file; this writes a folder of files: give a folder, e.g. --out {out.with_suffix('')}")
    return ensure_dir(out, "output folder", "choose another with --out")
