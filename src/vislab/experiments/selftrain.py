"""``vislab selftrain RECIPE --rounds R``: Noisy Student's rounds, each an ordinary run directory.

Round 0 trains the teacher on the labeled data alone (the recipe with ``semisup.method=none``), unless the
recipe or an override already names ``semisup.teacher``. Each following round trains a student with the
previous round's run as its ``semisup.teacher``, which its config.yaml records; summary.json adds the
round number. A round that fails stops the chain; the finished rounds stay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from .. import config as config_mod
from ..errors import VislabError
from ..runs import Run, check_name


def selftrain(
    recipe: str | Path,
    overrides: Optional[dict[str, Any]] = None,
    rounds: int = 1,
    runs_dir: Optional[str | Path] = None,
    name: Optional[str] = None,
) -> list[Run]:
    """Train the teacher (round 0, when none is named) and ``rounds`` students; returns their runs in order."""
    from ..training import train

    overrides = dict(overrides or {})
    if rounds < 1:
        raise VislabError(f"--rounds must be at least 1, got {rounds}")
    if name is not None:
        check_name(name)
    cfg = config_mod.resolve(recipe, overrides)
    if cfg.semisup.method != "noisy_student":
        raise VislabError(f"vislab selftrain chains Noisy Student rounds; recipe {cfg.recipe} must set semisup.method=noisy_student")
    stem = name or "selftrain"
    runs: list[Run] = []
    teacher = cfg.semisup.teacher
    if teacher is None:
        supervised = {**overrides, "semisup": {"method": "none"}, "data.unlabeled_root": None}
        run = train(recipe, runs_dir=runs_dir, name=f"{stem}-round0", overrides=supervised)
        run.update_summary(selftrain_round=0)
        runs.append(run)
        teacher = str(run.dir)
    for r in range(1, rounds + 1):
        run = train(recipe, runs_dir=runs_dir, name=f"{stem}-round{r}", overrides={**overrides, "semisup.teacher": str(teacher)})
        run.update_summary(selftrain_round=r, teacher=str(teacher))
        runs.append(run)
        teacher = str(run.dir)
    return runs
