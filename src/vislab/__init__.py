"""vislab: train, evaluate, sweep and compare computer-vision models, with honest statistics.

    run = vislab.train("digits", **{"optim.lr": 3e-3})
    run.summary["best_value"], run.history[-1]["val_acc"]
    vislab.load_run(run.dir)
"""

__version__ = "0.1.0"

from .api import augment_preview, ensemble, evaluate, predict, train  # noqa: E402
from .errors import VislabError  # noqa: E402
from .runs import Run, load_run  # noqa: E402

__all__ = [
    "Run", "VislabError", "__version__", "augment_preview", "ensemble", "evaluate", "load_run", "predict", "train",
]
