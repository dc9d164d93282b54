"""Sweeps over several keys: which settings mattered (Optuna's fANOVA importances) and a parallel-coordinates
plot of every run, both from an in-memory Optuna study with one trial per run."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Optional

from ...atomic import atomic_write
from ..sweep.space import encode


def runs_study(groups: list[Any], keys: list[str], metric: str, mode: str, value: Callable[[Any, str], Optional[float]]) -> Any:
    """An Optuna study of the runs: each run a finished trial with the differing keys as categorical params."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    choices = {k: sorted({encode(g.settings.get(k)) for g in groups}, key=repr) for k in keys}
    distributions = {k: optuna.distributions.CategoricalDistribution(v) for k, v in choices.items()}
    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    for g in groups:
        for run in g.runs:
            result = value(run, metric)
            if result is not None:
                params = {k: encode(g.settings.get(k)) for k in keys}
                study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=result))
    return study


def importances(study: Any) -> dict[str, float]:
    """fANOVA importance of each key (they sum to 1), highest first (Hutter et al. 2014, Optuna's evaluator);
    none when every run scored the same: there is no variance to apportion (fANOVA raises on it)."""
    import optuna

    if len({trial.value for trial in study.trials}) < 2:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))


def save_parallel_coordinates(study: Any, metric: str, path: Path) -> Path:
    """One line per run across the keys' axes to the metric's, coloured by the metric (Optuna's plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = optuna.visualization.matplotlib.plot_parallel_coordinate(study, target_name=metric)
    fig = ax.figure
    fig.set_size_inches(8, 4.5)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"))
    plt.close(fig)
    return path
