"""What ``vislab export`` accepts, checked without importing torch: formats, file names, opsets, and the
optional packages (the ``export`` extra) that ONNX needs."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Optional

from ..errors import VislabError

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript"}
EXTRA_MODULES = {"onnx": ("onnx", "onnxscript", "onnxruntime"), "onnxruntime": ("onnxruntime",)}


def require_extra(what: str) -> None:
    """Import the optional packages ``what`` needs (``onnx``: exporting, ``onnxruntime``: running), or say
    which extra installs them. TorchScript needs none."""
    for name in EXTRA_MODULES.get(what, ()):
        try:
            importlib.import_module(name)
        except ImportError:
            raise VislabError(
                f"{what} needs the package {name}, which is not installed; install the extra: pip install 'vislab[export]'"
            ) from None


def format_of(path: Path) -> str:
    """'onnx' or 'torchscript' from a file's suffix; anything else is bad input."""
    for fmt, suffix in SUFFIXES.items():
        if path.suffix == suffix:
            return fmt
    raise VislabError(f"{path}: an exported model ends in .onnx or .torchscript (made by vislab export)")


def check_options(fmt: str, out: Optional[str | Path], opset: Optional[int]) -> Optional[Path]:
    """The format, the file name's suffix and the opset; returns ``out`` as a Path (None: the default)."""
    if fmt not in FORMATS:
        raise VislabError(f"--format must be {' or '.join(FORMATS)}, not '{fmt}'")
    if opset is not None and (fmt != "onnx" or not 7 <= opset <= 23):
        raise VislabError("--opset applies to --format onnx and must be between 7 and 23 (torch's exporter writes 18 by default)")
    path = Path(out).expanduser() if out is not None else None
    if path is not None and path.suffix != SUFFIXES[fmt]:
        raise VislabError(f"--out {path}: a {fmt} file must end in {SUFFIXES[fmt]}")
    return path
