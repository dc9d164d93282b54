"""vislab: train, evaluate, sweep and compare computer-vision models, with honest statistics.

    run = vislab.train("digits", **{"optim.lr": 3e-3})
    run.summary["best_value"], run.history[-1]["val_acc"]
    vislab.load_run(run.dir)
"""

from .api import augment_preview, calibrate, compare, ensemble, evaluate, predict, train
from .errors import VislabError
from .meta import __version__
from .runs import Run, load_run

_LAZY = {"sweep": "vislab.experiments.sweep.driver"}


def __getattr__(name: str):
    """``vislab.sweep``, imported on first use (it pulls in optuna)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vislab' has no attribute '{name}'")


__all__ = [
    "Run", "VislabError", "__version__", "augment_preview", "calibrate", "compare", "ensemble", "evaluate", "load_run", "predict",
    "sweep", "train",
]
