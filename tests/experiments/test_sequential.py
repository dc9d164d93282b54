"""`--seeds auto`: the group-sequential plan keeps its false-positive rate over repeated looks (by simulation
with no true difference), stops early on a real one, and the seeds needed for 80% power match textbook values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from vislab.experiments.stats.sequential import Plan, obf_spent, seeds_needed, simulate

SWEEPS = 20_000  # simulated no-difference sweeps; the standard error of a 5% rate is then 0.0015


def test_no_true_difference_is_found_at_most_alpha_of_the_time():
    rate, seeds = simulate(Plan(max_seeds=10, alpha=0.05), SWEEPS, seed=7)
    assert 0.045 <= rate <= 0.055  # spends (nearly) all of alpha, never much more
    assert 9.5 < seeds <= 10  # without a difference nearly every sweep runs to the end


def test_looking_after_every_seed_at_p_0_05_would_find_three_times_as_many():
    x = np.random.default_rng(7).standard_normal((SWEEPS, 10))
    found = np.zeros(SWEEPS, bool)
    for n in range(3, 11):
        found |= stats.ttest_1samp(x[:, :n], 0.0, axis=1).pvalue <= 0.05
    assert found.mean() > 0.14  # what the plan prevents


def test_a_real_difference_stops_early_and_a_min_effect_stops_a_null_one():
    rate, seeds = simulate(Plan(max_seeds=10), 4000, effect=1.5, seed=3)
    assert rate > 0.9 and seeds < 7
    rate, seeds = simulate(Plan(max_seeds=10, min_effect=2.0), 4000, seed=3)
    assert rate < 0.05 and seeds < 6  # the interval falls inside +-2 sd quickly: nothing that large


def test_the_levels_spend_alpha_like_obrien_fleming_and_split_it_over_comparisons():
    plan = Plan(max_seeds=10)
    levels = [plan.level(n) for n in range(3, 11)]
    assert levels == sorted(levels) and levels[0] < 0.001 and 0.02 < levels[-1] < 0.05
    assert plan.level(2) == 0.0  # no look before the third seed
    assert obf_spent(1.0, 0.05) == pytest.approx(0.05)
    assert Plan(max_seeds=10, comparisons=2).level(10) < plan.level(10)
    assert plan.decision(10, 0.04, -1, 1) == "max seeds" and plan.decision(5, 0.0001, 1, 2) == "different"
    assert plan.decision(5, 0.5, -1, 1) == ""


def test_seeds_needed_for_80_percent_power():
    assert seeds_needed(1.0, 1.0, paired=True) == 10  # G*Power: paired t, d = 1 -> 10
    assert seeds_needed(1.0, 1.0, paired=False) == 17  # two-sample t, d = 1 -> 17 per group
    assert seeds_needed(0.5, 1.0, paired=False) == 64
    assert seeds_needed(0.0, 1.0, paired=True) is None and seeds_needed(0.001, 1.0, paired=True) is None
