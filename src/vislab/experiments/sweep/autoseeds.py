"""`vislab sweep ... --seeds auto --max-seeds N`: seeds added in rounds until each comparison is decided.

Every grid point first trains ``start`` seeds. Then each point is compared with the baseline point on the
seeds both finished (a paired t-test on the sweep's objective, the best validation value of each run) at the
levels of a group-sequential plan (see stats/sequential.py). A comparison that crossed its level, or whose interval
fits inside +-min_effect, is decided and its point gets no more seeds; the others, and the baseline while any
is open, get one more seed per round, up to N. The state is a function of the finished trials alone, so
``--resume`` and workers on other machines pick up the same rounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

from ...errors import VislabError
from ..stats import over_seeds as stats
from ..stats.sequential import Plan
from .space import SEED, describe

START = 3  # seeds every point trains before the first look


@dataclass(frozen=True)
class Look:
    """One comparison with the baseline after ``n`` shared seeds."""

    settings: dict[str, Any]  # the point's values apart from the seed (encoded as the study stores them)
    n: int
    diff: float
    p: float
    level: float
    decision: str  # see Plan.decision; "" while seeds are still being added


def auto_spec(grid: dict[str, list], max_seeds: int, baseline: Optional[dict[str, Any]], min_effect: Optional[float]) -> dict:
    """The stored description of an automatic-seeds sweep, checked before anything is created."""
    if max_seeds < START:
        raise VislabError(f"--max-seeds must be at least {START} (seeds every point trains before the first look), not {max_seeds}")
    if not grid:
        raise VislabError("--seeds auto compares grid points with a baseline: give key=v1,v2,... to sweep")
    if min_effect is not None and not min_effect > 0:
        raise VislabError(f"--min-effect must be a positive difference of the objective, not {min_effect}")
    chosen = {k: v[0] for k, v in grid.items()}
    for key, value in (baseline or {}).items():
        if key not in grid or value not in grid[key]:
            options = ", ".join(f"{k}={v}" for k, vs in grid.items() for v in vs)
            raise VislabError(f"--baseline {key}={value} is not a point of the grid; choose among {options}")
        chosen[key] = value
    return {"max_seeds": max_seeds, "start": START, "alpha": 0.05, "min_effect": min_effect, "baseline": chosen}


def plan_of(auto: dict, comparisons: int) -> Plan:
    return Plan(auto["max_seeds"], auto["start"], auto["alpha"], max(1, comparisons), auto["min_effect"])


def _key(settings: dict[str, Any]) -> tuple:
    return tuple(sorted(settings.items()))


def looks(space: Any, auto: dict, trials: list[Any]) -> tuple[dict[tuple, int], list[Look]]:
    """Seeds each point needs now (by its settings without the seed), and the latest look of each comparison."""
    from .space import encode

    points = [{k: v for k, v in p.items() if k != SEED} for p in space.grid_points() if p[SEED] == 0]
    values: dict[tuple, dict[int, float]] = {_key(p): {} for p in points}
    for t in trials:
        if t.state.name == "COMPLETE" and set(t.params) == set(space.params):
            settings = {k: v for k, v in t.params.items() if k != SEED}
            values.setdefault(_key(settings), {})[int(t.params[SEED])] = float(t.value)
    base = _key({k: encode(v) for k, v in auto["baseline"].items()})
    plan = plan_of(auto, len(points) - 1)
    need, found = {}, []
    for point in points:
        key = _key(point)
        if key == base:
            continue
        n = _shared(values[key], values[base])
        look = _look(point, values[key], values[base], n, plan)
        found.append(look)
        need[key] = plan.start if n < plan.start else (n if look.decision else n + 1)
    need[base] = max([plan.start, *need.values()])
    return need, found


def _shared(a: dict[int, float], b: dict[int, float]) -> int:
    """How many seeds 0, 1, 2, ... both points finished, in a row."""
    n = 0
    while n in a and n in b:
        n += 1
    return n


def _look(point: dict, group: dict[int, float], base: dict[int, float], n: int, plan: Plan) -> Look:
    if n < plan.start:
        return Look(point, n, math.nan, math.nan, plan.level(n), "")
    d = stats.paired_difference([group[s] for s in range(n)], [base[s] for s in range(n)])
    return Look(point, n, d.diff, d.p, plan.level(n), plan.decision(n, d.p, d.low, d.high))


def wanted_points(space: Any, auto: dict, trials: list[Any]) -> list[dict[str, Any]]:
    """The grid points (with their seed) the plan wants trained now, seeds varying slowest."""
    need, _ = looks(space, auto, trials)
    return [p for p in space.grid_points() if p[SEED] < need[_key({k: v for k, v in p.items() if k != SEED})]]


def look_lines(space: Any, auto: dict, trials: list[Any]) -> list[str]:
    """What the sweep says at the end: each comparison's last look and its decision."""
    _, found = looks(space, auto, trials)
    lines = [f"baseline {describe(auto['baseline'])}; O'Brien-Fleming-type alpha spending over seeds "
             f"{auto['start']}..{auto['max_seeds']}, alpha {auto['alpha']} split over {max(1, len(found))} comparisons"]
    for look in found:
        what = {"different": "different", "within min effect": f"no difference as large as {auto['min_effect']}",
                "max seeds": "undecided at --max-seeds", "": "open"}[look.decision]
        numbers = "" if math.isnan(look.p) else f": Δ {look.diff:+.4f}, p {look.p:.3g} (level {look.level:.3g})"
        lines.append(f"  {describe(space.values(look.settings))}: {what} after {look.n} seeds{numbers}")
    return lines
