"""What a sweep runs (``SweepSpec``), checked before anything is created: the keys, the values, the seeds,
and the objective every trial is scored by."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ... import config as config_mod
from ...errors import VislabError
from .autoseeds import auto_spec
from .space import SEED, Choice, Param, Space


@dataclass
class SweepSpec:
    """What a sweep runs, stored with the study so that another machine can join it by name alone."""

    recipe: str  # the recipe's name, for display and the default sweep name
    base: str  # the resolved recipe with the fixed overrides, as YAML (so joining needs no recipe file)
    search: str  # "grid" or "tpe"
    params: dict  # Space.to_spec()
    trials: int  # grid: its size; search: how many trials
    monitor: str  # the objective, e.g. val_acc (its best value over epochs)
    mode: str  # "max" or "min"
    prune: bool
    auto: Optional[dict] = None  # --seeds auto: autoseeds.auto_spec (seeds added in rounds up to max_seeds)
    seeds_per_trial: int = 1  # --search tpe --seeds K: each trial trains seeds 0..K-1, scored by their mean

    @property
    def space(self) -> Space:
        return Space.from_spec(self.params)

    def base_config(self) -> dict:
        return config_mod.yaml_load(self.base)

    def differences(self, other: "SweepSpec") -> list[str]:
        """Names of the fields that differ, for the message when a resumed sweep does not match."""
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) != getattr(other, f.name)]


def build_spec(
    recipe: str | Path,
    overrides: dict[str, Any],
    grid: dict[str, list],
    ranges: dict[str, Param],
    *,
    seeds: Optional[int | str],
    search: str,
    trials: Optional[int],
    prune: bool,
    max_seeds: Optional[int] = None,
    baseline: Optional[dict[str, Any]] = None,
    min_effect: Optional[float] = None,
) -> SweepSpec:
    """Check everything a sweep needs before anything is created: keys, value types, the objective.

    ``seeds="auto"`` with ``max_seeds`` adds seeds in rounds (see autoseeds); ``baseline`` and ``min_effect``
    go with it."""
    grid = dict(grid)
    auto = None
    if seeds == "auto":
        if search != "grid":
            raise VislabError("--seeds auto compares grid points; a search takes --seeds K (the mean over K seeds)")
        if max_seeds is None:
            raise VislabError("--seeds auto needs --max-seeds N (the most seeds a grid point may get)")
        if SEED in grid or SEED in ranges:
            raise VislabError("give either --seeds auto or train.seed=a,b,..., not both")
        auto = auto_spec(grid, max_seeds, baseline, min_effect)
        seeds = max_seeds
    elif max_seeds is not None or baseline or min_effect is not None:
        raise VislabError("--max-seeds, --baseline and --min-effect go with --seeds auto")
    if seeds is not None:
        if seeds < 1:
            raise VislabError(f"--seeds must be at least 1, not {seeds}")
        if SEED in grid or SEED in ranges:
            raise VislabError("give either --seeds N or train.seed=a,b,..., not both")
        if search != "tpe":
            grid[SEED] = list(range(seeds))
    if search == "grid":
        if ranges:
            raise VislabError(f"{', '.join(ranges)}: ranges need --search tpe; a grid takes key=v1,v2,...")
        if trials is not None:
            raise VislabError("--trials is for --search tpe; a grid runs each of its points once")
        if not grid:
            raise VislabError("nothing to sweep: give key=v1,v2,... (comma-separated values) or --seeds N")
        params: dict[str, Param] = {k: Choice(tuple(v)) for k, v in grid.items()}
    elif search == "tpe":
        if SEED in grid or SEED in ranges:
            raise VislabError("a search takes --seeds K (each trial scored by its mean over seeds 0..K-1), not train.seed values")
        if not trials or trials < 1:
            raise VislabError("--search tpe needs --trials N (how many settings to try)")
        params = {**{k: Choice(tuple(v)) for k, v in grid.items()}, **ranges}
        if not params:
            raise VislabError("nothing to search: give ranges such as optim.lr=loguniform(1e-4,1e-2)")
    else:
        raise VislabError(f"--search must be grid or tpe, not '{search}'")
    space = Space(params)
    space.check_distinct()
    cfg = config_mod.resolve(recipe, overrides)
    base = config_mod.to_dict(cfg)
    examples = [config_mod.resolve(base, example) for example in space.examples()]
    for trial_cfg in examples:
        if trial_cfg.train.devices not in (1, "1") or trial_cfg.train.num_nodes != 1:
            raise VislabError("a sweep trial trains on one device; spread trials over GPUs with --workers N --gpus-per-trial 1")
    monitor, mode = checked_objective(examples)
    return SweepSpec(
        recipe=cfg.recipe,
        base=config_mod.yaml_dump(base),
        search=search,
        params=space.to_spec(),
        trials=len(space.grid_points()) if search == "grid" else int(trials),
        monitor=monitor,
        mode=mode,
        prune=prune and search == "tpe",
        auto=auto,
        seeds_per_trial=seeds if search == "tpe" and seeds else 1,
    )


def checked_objective(configs: list[config_mod.Config]) -> tuple[str, str]:
    """Check trial configs as `vislab train` checks a run's before creating it (each dataset built once per
    distinct data.* and aug.*, seeds skipped: they change no check); return the metric a trial is scored by
    and its direction, what picks the run's best.pt."""
    from ...engine.fit import monitor_of
    from ...training import training_parts

    bundles: dict[str, Any] = {}
    checked: set[str] = set()
    objectives = []
    for cfg in configs:
        values = config_mod.to_dict(cfg)
        values["train"] = {k: v for k, v in values["train"].items() if k != "seed"}
        if config_mod.yaml_dump(values) in checked:
            continue
        checked.add(config_mod.yaml_dump(values))
        data_key = config_mod.yaml_dump({"data": values["data"], "aug": values["aug"]})
        bundles[data_key], task, _ = training_parts(cfg, bundles.get(data_key))
        objectives.append(monitor_of(cfg, task))  # which checks the monitor too, as training does
    return objectives[0]
