"""What ``vislab export`` accepts, checked without importing torch: formats, file names, opsets, and the
optional packages (the ``export`` extra) that ONNX needs."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional

from ..errors import VislabError

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript"}
# vislab passes the opset it states rather than the exporter's default, which changes with torch releases; torch's
# exporter (dynamo) writes 18 at the least, whatever it is asked for, and 23 at the most.
DEFAULT_OPSET, MIN_OPSET, MAX_OPSET = 20, 18, 23
EXTRA_MODULES = {"onnx": ("onnx", "onnxscript", "onnxruntime"), "onnxruntime": ("onnxruntime",)}


def require_extra(what: str) -> None:
    """The optional packages ``what`` needs (``onnx``: exporting, ``onnxruntime``: running) must be
    installed, or the message says which extra installs them; found without importing them (or torch)."""
    for name in EXTRA_MODULES.get(what, ()):
        if importlib.util.find_spec(name) is None:
            raise VislabError(
                f"{what} needs the package {name}, which is not installed; install the extra: pip install 'vislab[export]'"
            )


def check_exported(path: Optional[str | Path], checkpoint: str = "best", weights: str = "raw") -> None:
    """An ``--exported`` file's format is known and what runs it is installed (None: nothing to check); the
    options that choose a checkpoint's weights are not given beside it, where they would be ignored."""
    if path is None:
        return
    chosen = [f"--{name} {value}" for name, value, default in (("checkpoint", checkpoint, "best"), ("weights", weights, "raw"))
              if value != default]
    if chosen:
        raise VislabError(f"{' and '.join(chosen)} chooses a checkpoint's weights, but --exported {path} holds the "
                          "weights it was exported with: drop it, or export those weights (vislab export RUN_DIR "
                          f"{' '.join(chosen)}) and pass that file")
    if format_of(Path(path)) == "onnx":
        require_extra("onnxruntime")


def format_of(path: Path) -> str:
    """'onnx' or 'torchscript' from a file's suffix; anything else is bad input."""
    for fmt, suffix in SUFFIXES.items():
        if path.suffix == suffix:
            return fmt
    raise VislabError(f"{path}: an exported model ends in .onnx or .torchscript (made by vislab export)")


def check_options(fmt: str, out: Optional[str | Path], opset: Optional[int]) -> Optional[Path]:
    """The format, the file name's suffix, the opset, and the extra ONNX needs; returns ``out`` as a Path
    (None: the default)."""
    if fmt not in FORMATS:
        raise VislabError(f"--format must be {' or '.join(FORMATS)}, not '{fmt}'")
    if opset is not None and (fmt != "onnx" or not MIN_OPSET <= opset <= MAX_OPSET):
        raise VislabError(f"--opset applies to --format onnx and must be between {MIN_OPSET} and {MAX_OPSET} "
                          f"(default {DEFAULT_OPSET})")
    path = Path(out).expanduser() if out is not None else None
    if path is not None and path.suffix != SUFFIXES[fmt]:
        raise VislabError(f"--out {path}: a {fmt} file must end in {SUFFIXES[fmt]}")
    if fmt == "onnx":
        require_extra("onnx")
    return path


def check_profile_batch(batch: Optional[int]) -> None:
    """``vislab profile --batch``: the larger batch timed beside batch 1."""
    if batch is not None and batch < 2:
        raise VislabError(f"--batch is the larger batch timed beside batch 1: at least 2, not {batch}")
