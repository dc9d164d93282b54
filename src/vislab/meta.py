"""What produced a run: library versions and the git commit of vislab's source, when known."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Optional

# vislab's version: here, below every layer, so that what records it (summary.json, an export's metadata) need not
# import the package root, which imports the API.
__version__ = "0.1.0"


def versions() -> dict[str, str]:
    import lightning_fabric
    import torch
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lightning_fabric": lightning_fabric.__version__,
        "vislab": __version__,
    }


def git_commit() -> Optional[str]:
    """The commit of the checkout vislab runs from (with ``-dirty`` for local changes), or None."""
    src = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{out}-dirty" if dirty else out or None
