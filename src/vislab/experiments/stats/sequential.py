"""How many seeds: the seeds needed for 80% power, and a group-sequential plan for `--seeds auto`.

`vislab sweep ... --seeds auto --max-seeds N` trains ``start`` seeds of every grid point, then looks at each
comparison with the baseline after every further seed. Looking after each seed and stopping at the first
p < 0.05 would find a difference that is not there far more often than 5% of the time. The plan instead
spends the false-positive rate over the planned looks with the Lan-DeMets O'Brien-Fleming-type spending
function alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)), t = seeds / N (Lan & DeMets 1983; Jennison & Turnbull
2000, ch. 7): early looks need overwhelming evidence, the last one nearly the fixed-sample 0.05. Each look is
a paired t-test (the group and the baseline run the same seeds) against a nominal level calibrated for the
t statistic (see ``t_levels``); alpha is split equally among the comparisons with the baseline (Bonferroni). A comparison may also stop when its interval lies inside
+-min_effect (nothing as large as that is there): a non-binding futility stop, which can only lower the
false-positive rate. `simulate` checks the whole procedure by simulation with no true difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

import numpy as np
from scipy import stats

CALIBRATION = 200_000  # simulated sweeps that calibrate the levels
POWER = 0.8
MAX_NEEDED = 1000  # seeds needed beyond this are reported as "more than"


def obf_spent(t: float, alpha: float) -> float:
    """The false-positive rate spent by information fraction t (Lan-DeMets, O'Brien-Fleming type, two-sided)."""
    return float(2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / math.sqrt(t)))


@lru_cache(maxsize=64)
def t_levels(looks: tuple[int, ...], alpha: float) -> tuple[float, ...]:
    """Nominal two-sided p-value levels of the paired t-test at looks after ``looks`` seeds (t_k = n_k / n_K), such
    that P(p_j > level_j for j < k, p_k <= level_k) = alpha(t_k) - alpha(t_{k-1}) when there is no difference.

    Under no difference the t-tests' p-values do not depend on the unknown spread, so the levels are found on
    CALIBRATION simulated paths of N(0, 1) differences (fixed random stream): exact for the t statistic up to
    Monte Carlo error (about 0.0007 on a level of 0.05), where boundaries computed for z would let small samples
    through too often (0.056 instead of 0.05 with 10 seeds)."""
    rng = np.random.default_rng(20211206)
    x = rng.standard_normal((CALIBRATION, looks[-1]))
    alive = np.ones(CALIBRATION, bool)
    spent, levels = 0.0, []
    with np.errstate(divide="ignore", invalid="ignore"):
        for n in looks:
            p = stats.ttest_1samp(x[:, :n], 0.0, axis=1).pvalue
            allowed = int(round((obf_spent(n / looks[-1], alpha) - spent) * CALIBRATION))
            candidates = np.sort(p[alive])
            level = float(candidates[allowed - 1]) if allowed > 0 else 0.0
            crossed = alive & (p <= level)
            spent += crossed.sum() / CALIBRATION
            alive &= ~crossed
            levels.append(level)
    return tuple(levels)


@dataclass(frozen=True)
class Plan:
    """A group-sequential plan over seeds: looks after start, start+1, ..., max_seeds seeds."""

    max_seeds: int
    start: int = 3
    alpha: float = 0.05
    comparisons: int = 1  # alpha is split equally among the comparisons with the baseline
    min_effect: Optional[float] = None
    levels: dict[int, float] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        looks = tuple(range(min(self.start, self.max_seeds), self.max_seeds + 1))
        levels = t_levels(looks, self.alpha / max(1, self.comparisons))
        object.__setattr__(self, "levels", dict(zip(looks, levels)))

    def level(self, n: int) -> float:
        """The nominal two-sided p-value a comparison must reach at the look after n seeds (0 before the first)."""
        return self.levels.get(n, 0.0)

    def decision(self, n: int, p: float, low: float, high: float) -> str:
        """'different', 'within min effect', 'max seeds', or '' (add a seed) for one comparison after n seeds."""
        if not math.isnan(p) and p <= self.level(n):
            return "different"
        if self.min_effect is not None and not math.isnan(low) and -self.min_effect < low and high < self.min_effect:
            return "within min effect"
        return "max seeds" if n >= self.max_seeds else ""


def seeds_needed(diff: float, sd: float, paired: bool, alpha: float = 0.05, power: float = POWER) -> Optional[int]:
    """Seeds per group for a two-sided t-test at ``alpha`` to detect ``diff`` with ``power``, given the spread
    ``sd`` (of the per-seed differences when paired, of each group's values otherwise); None beyond MAX_NEEDED."""
    if sd == 0 or math.isnan(sd) or math.isnan(diff) or diff == 0:
        return None if diff == 0 or math.isnan(diff) or math.isnan(sd) else 2
    effect = abs(diff) / sd
    for n in range(2, MAX_NEEDED + 1):
        df = n - 1 if paired else 2 * n - 2
        nc = effect * math.sqrt(n if paired else n / 2)
        crit = stats.t.ppf(1 - alpha / 2, df)
        if stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc) >= power:
            return n
    return None


def simulate(plan: Plan, sweeps: int, effect: float = 0.0, seed: int = 0) -> tuple[float, float]:
    """Run the plan on ``sweeps`` simulated paired comparisons whose per-seed differences are N(effect, 1):
    (the fraction that ended 'different', the mean number of seeds used). With effect 0 the first number is
    the false-positive rate, which the plan keeps at or below its alpha."""
    rng = np.random.default_rng(seed)
    diffs = rng.normal(effect, 1.0, size=(sweeps, plan.max_seeds))
    open_ = np.ones(sweeps, bool)
    different = np.zeros(sweeps, bool)
    used = np.full(sweeps, plan.max_seeds)
    for n in sorted(plan.levels):
        d = diffs[:, :n]
        with np.errstate(divide="ignore", invalid="ignore"):
            result = stats.ttest_1samp(d, 0.0, axis=1)
        ci = result.confidence_interval(0.95)
        for i in np.flatnonzero(open_):
            decided = plan.decision(n, float(result.pvalue[i]), float(ci.low[i]), float(ci.high[i]))
            if decided:
                open_[i] = False
                different[i] = decided == "different"
                used[i] = n
    return float(different.mean()), float(used.mean())
