"""The Python API. The CLI calls these same functions.

    run = vislab.train("digits", **{"optim.lr": 3e-3})
    vislab.evaluate(run, split="test")

Training lives in training.py; what reads a finished run's checkpoint (evaluate, predict, ensemble, calibrate) in
inference.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from . import config as config_mod
from .errors import VislabError
from .inference import calibrate, ensemble, evaluate, predict, restore  # noqa: F401 (part of the API)
from .outputs import out_file
from .training import train  # noqa: F401 (part of the API)


def augment_preview(
    recipe: str | Path, out: str | Path = "augment.png", overrides: Optional[dict[str, Any]] = None, count: int = 16
) -> Path:
    """A PNG of ``count`` training samples as the training pipeline makes them, each beside its original."""
    out = out_file(out, "augment.png")
    if count < 1:
        raise VislabError(f"--count must be at least 1, not {count}")
    cfg = config_mod.resolve(recipe, overrides)
    from . import data  # after the checks: a mistake is answered without torch's import
    from .data.preview import save_augment_grid

    return save_augment_grid(cfg, data.build(cfg.data, cfg.aug), out, count)
