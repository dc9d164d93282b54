"""The features that meet in one training run, combined as users combine them: every pair of values of
task x scheme x sampler x EMA x accumulation x channels_last x progressive x TTA x bootstrap appears in at
least one case (an all-pairs covering array, built below). Each case runs `vislab train` in a subprocess with
the default display and must either train (exit 0, summary.json written) or be refused up front (exit 2, one
line on stderr, no run directory). Which cases are refused, and with what words, is stated here apart from
the code's rule table, so a rule that starts refusing a combination that trains, or stops refusing one that
makes no sense, fails a case."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Callable

import pytest

from conftest import run_cli

SMOKE = ("train.epochs=1", "train.limit_batches=2", "train.batch_size=6")
SHAPES = ("data.image_size=[32,32]", "data.num_samples=48", "data.limit=24")
TASKS = {  # recipe and tiny data for each kind of work
    "classification": ("digits", "data.limit=60"),
    "domain_generalization": ("digits-dg", "data.limit=60"),
    "segmentation": ("shapes-unet", *SHAPES),
    "panoptic": ("shapes-panoptic", *SHAPES),
}
SCHEME = {"none": (), **{m: (f"semisup.method={m}", "semisup.ratio=1", "data.labeled_fraction=0.5")
                         for m in ("fixmatch", "mean_teacher")}}
FACTORS: dict[str, dict[str, tuple[str, ...]]] = {
    "task": {name: recipe for name, recipe in TASKS.items()},
    "scheme": SCHEME,
    "sampler": {"random": (), "domain_balanced": ("data.sampler=domain_balanced",)},
    "ema": {"off": (), "on": ("train.ema.decay=0.9",)},
    "accumulate": {"1": (), "2": ("train.accumulate=2",)},
    "channels_last": {"true": ("train.channels_last=true",), "false": ("train.channels_last=false",)},
    "progressive": {"off": (), "on": ("train.progressive.stages=2", "train.progressive.image_size=[16,32]")},
    "tta": {"off": (), "flip": ("eval.tta.flip=true",)},
    "bootstrap": {"off": (), "on": ("data.bootstrap=true",)},
}


def pairs_of(case: dict[str, str]) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    return set(itertools.combinations(case.items(), 2))


def all_pairs(factors: dict[str, list[str]], trains: Callable[[dict[str, str]], bool]) -> list[dict[str, str]]:
    """Cases (factor -> value) in which every pair of values of two factors appears at least once, by greedy
    set cover over the whole product (ties: the first case): first with cases that ``trains``, until every
    pair that some training case holds is covered, then with the others for the pairs no training case can
    hold (a combination that must be refused). Deterministic."""
    product = [dict(zip(factors, values)) for values in itertools.product(*factors.values())]
    cases = []
    for pool in ([c for c in product if trains(c)], [c for c in product if not trains(c)]):
        uncovered = set().union(*map(pairs_of, pool)) - set().union(set(), *map(pairs_of, cases))
        while uncovered:
            best = max(pool, key=lambda c: len(pairs_of(c) & uncovered))
            uncovered -= pairs_of(best)
            cases.append(best)
    return cases


def refusals(case: dict[str, str]) -> list[str]:
    """Words one of which the one-line refusal must hold when the combination makes no sense; empty: it trains."""
    words = []
    if case["sampler"] == "domain_balanced" and case["task"] != "domain_generalization":
        words.append("data.sampler=domain_balanced")
    if case["progressive"] == "on" and case["task"] in ("classification", "domain_generalization"):
        words.append("train.progressive.image_size")  # cnn-mnist and cnn-dg take one input size only
    return words


CASES = all_pairs({name: list(values) for name, values in FACTORS.items()}, lambda case: not refusals(case))


def case_id(case: dict[str, str]) -> str:
    return "-".join(f"{k}={v}" for k, v in case.items())


def test_every_pair_of_values_is_covered() -> None:
    for (a, b) in itertools.combinations(FACTORS, 2):
        seen = {(case[a], case[b]) for case in CASES}
        assert seen == set(itertools.product(FACTORS[a], FACTORS[b])), (a, b)


@pytest.mark.parametrize("case", CASES, ids=[case_id(case) for case in CASES])
def test_combination_trains_or_is_refused_in_one_line(case: dict[str, str], tmp_path: Path) -> None:
    recipe, *args = [arg for name, value in case.items() for arg in FACTORS[name][value]]
    proc = run_cli("train", recipe, *SMOKE, *args, timeout=300)
    runs = tmp_path / "runs"
    expected = refusals(case)
    if not expected:
        assert proc.returncode == 0, proc.stderr[-3000:]
        summaries = list(runs.glob("*/*/summary.json"))
        assert len(summaries) == 1 and json.loads(summaries[0].read_text())["status"] == "completed"
    else:
        assert proc.returncode == 2, proc.stderr[-3000:]
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and any(words in lines[0] for words in expected), proc.stderr
        assert not runs.exists() or not any(runs.iterdir()), sorted(runs.rglob("*"))
