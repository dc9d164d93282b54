"""The comparison's statistics against scipy and against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sp

from vislab.experiments.stats import over_seeds as stats

A = [0.912, 0.931, 0.925, 0.948, 0.917]
B = [0.905, 0.902, 0.921, 0.930, 0.899]


def test_estimate_is_the_student_t_interval():
    est = stats.estimate([1, 2, 3, 4, 5])
    assert (est.n, est.mean) == (5, 3.0)
    assert est.std == pytest.approx(math.sqrt(2.5))
    # t(0.975, 4) = 2.776445, sem = sqrt(2.5 / 5)
    assert (est.low, est.high) == pytest.approx((3 - 2.776445 * math.sqrt(0.5), 3 + 2.776445 * math.sqrt(0.5)), abs=1e-6)
    low, high = sp.t.interval(0.95, len(A) - 1, loc=sp.tmean(A), scale=sp.sem(A))
    assert (stats.estimate(A).low, stats.estimate(A).high) == pytest.approx((low, high))


def test_one_value_has_no_spread_and_no_interval():
    est = stats.estimate([0.93])
    assert est.mean == 0.93 and math.isnan(est.std) and math.isnan(est.low) and math.isnan(est.high)


def test_paired_difference_matches_scipy_ttest_rel():
    d = stats.paired_difference(A, B)
    ref = sp.ttest_rel(A, B)
    ci = ref.confidence_interval(0.95)
    assert d.test == "paired" and d.df == len(A) - 1
    assert d.diff == pytest.approx(sum(A) / 5 - sum(B) / 5)
    assert d.p == pytest.approx(ref.pvalue)
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high))


def test_welch_difference_matches_scipy_ttest_ind():
    d = stats.welch_difference(A, B[:3])
    ref = sp.ttest_ind(A, B[:3], equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert d.test == "welch"
    assert d.df == pytest.approx(ref.df)
    assert d.p == pytest.approx(ref.pvalue)
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high))


def test_difference_pairs_by_seed_only_when_both_ran_the_same_seeds():
    group = list(zip([2, 0, 1, 3, 4], A))  # same seeds as the baseline, in another order
    base = list(zip([0, 1, 2, 3, 4], B))
    paired = stats.difference(group, base)
    ref = sp.ttest_rel([A[1], A[2], A[0], A[3], A[4]], B)  # A re-ordered to seeds 0..4
    assert paired.test == "paired" and paired.p == pytest.approx(ref.pvalue)

    other_seeds = list(zip([5, 6, 7, 8, 9], A))
    welch = stats.difference(other_seeds, base)
    assert welch.test == "welch" and welch.p == pytest.approx(sp.ttest_ind(A, B, equal_var=False).pvalue)


def test_a_single_run_gets_a_difference_but_no_p_value():
    d = stats.difference([(0, 0.95)], list(zip(range(5), B)))
    assert d.test == "none" and d.diff == pytest.approx(0.95 - sum(B) / 5)
    assert math.isnan(d.p) and math.isnan(d.low)


def test_holm_adjusts_in_order_and_keeps_missing_values_out():
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04)
    assert stats.holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert stats.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert stats.holm([0.02, float("nan")])[0] == pytest.approx(0.02)


def test_verdict_follows_the_metric_direction():
    assert stats.verdict(+0.02, 0.01, "max") == "better"
    assert stats.verdict(+0.02, 0.01, "min") == "worse"  # a loss that went up
    assert stats.verdict(-0.10, 0.001, "min") == "better"
    assert stats.verdict(+0.02, 0.05, "max") == "no detectable difference"
    assert stats.verdict(+0.02, None, "max") == "no detectable difference"


def test_bounded_metrics_are_decided_in_one_place():
    for metric in ("val_acc", "test_acc", "val_ema_acc", "test_acc_art", "val_miou", "test_iou_cat", "test_pq_things",
                   "test_f1", "test_macro_f1", "val_balanced_acc", "test_ece", "val_pixel_acc", "test_top5"):
        assert stats.bounds(metric) == (0.0, 1.0), metric
    for metric in ("val_loss", "train_loss", "lr", "seconds", "images_per_s"):
        assert stats.bounds(metric) is None, metric


def test_intervals_are_clipped_to_the_bounds_and_tests_are_not():
    est = stats.estimate([0.95, 0.99], limits=(0.0, 1.0))
    assert (est.low, est.high) == (pytest.approx(0.7158759), 1.0)
    d = stats.difference([(0, 0.10), (1, 0.90)], [(0, 0.95), (1, 0.99)], limits=(0.0, 1.0))
    assert (d.low, d.high) == (-1.0, 1.0) and d.p == pytest.approx(sp.ttest_rel([0.10, 0.90], [0.95, 0.99]).pvalue)


def test_differences_without_spread_get_no_test():
    base = [0.6091409921646118, 0.6481642723083496]  # +0.1037 each, rounded as float32: 6e-8 apart
    gain = [0.7128410339355469, 0.7518642544746399]
    d = stats.paired_difference(gain, base)
    assert d.test == "none" and math.isnan(d.p) and math.isnan(d.low) and d.diff == pytest.approx(0.1037)
    assert d.why == "cannot tell: differences have no spread over 2 seeds"
    w = stats.welch_difference([0.9, 0.9, 0.9], [0.8, 0.8])
    assert w.test == "none" and w.why == "cannot tell: values have no spread over 3 and 2 seeds"
    assert stats.welch_difference([0.9, 0.9, 0.9], [0.8, 0.81]).test == "welch"  # one side with spread is a test
