"""`vislab compare SWEEP --table domains`: domain-generalization results as DomainBed prints them.

Leave-one-domain-out runs (``data.test_domain`` = each domain in turn) give a row per method (the settings
apart from the test domain, the seed and the hyperparameters named by ``--select-over``), a column per
test domain and the average, each mean ± standard error over seeds, in percent. For each method, test
domain and seed, a model-selection rule picks one hyperparameter setting (Gulrajani & Lopez-Paz, "In Search
of Lost Domain Generalization", ICLR 2021; the rules are the classes of model_selection.py, as in DomainBed).

As in DomainBed, the test domain's images are split once into an "out" part (20%) and an "in" part (80%):
every rule reports the accuracy on the in part, and only the oracle looks at the out part, to select.
The parts come from the runs' per-image records of the test split (records/test.npz of best.pt); runs
without them are left out. Each run counts with its best.pt (chosen by validation on the training domains).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from ... import records
from ...errors import VislabError
from ..sweep.space import describe
from .model_selection import RULES, Cell, Result, SelectionRule

DOMAIN = "data.test_domain"
OUT_FRACTION = 0.2  # DomainBed's holdout_fraction: the test domain's share that the oracle selects on
OUT_SEED = 0  # the same out part for every run that saw the same test images


@dataclass
class DomainRow:
    """A method's cells: per test domain and the average, (mean, standard error, seeds) in percent."""

    method: str
    cells: dict[str, tuple[float, float, int]]


@dataclass
class DomainTable:
    rule: str
    domains: list[str]
    rows: list[DomainRow]


def out_part(n: int) -> np.ndarray:
    """bool [n]: which of n test images (in index order) form the out part, a seeded 20% as DomainBed draws it."""
    out = np.zeros(n, dtype=bool)
    out[np.random.default_rng(OUT_SEED).permutation(n)[: int(round(OUT_FRACTION * n))]] = True
    return out


def test_parts(run: Any) -> Optional[tuple[float, float]]:
    """(in-part, out-part) accuracy of a run's best.pt on its test split, from records/test.npz (None without)."""
    found = records.read(run.dir, "test")
    if found is None or "correct" not in found or len(found["correct"]) < 2:
        return None
    out = out_part(len(found["correct"]))
    correct = found["correct"].astype(np.float64)
    return float(correct[~out].mean()), float(correct[out].mean())


def domain_tables(groups: list[Any], keys: list[str], select_over: list[str], value: Callable[[Any, str], Optional[float]],
                  seed_of: Callable[[Any], Any]) -> tuple[list[DomainTable], list[str]]:
    """The three rules' tables from the groups of a comparison, and notes on what could not be used."""
    if DOMAIN not in keys:
        from ...data.sources.officehome import DOMAINS as OFFICEHOME_DOMAINS  # here only: the module imports torch

        raise VislabError(f"--table domains needs leave-one-domain-out runs that differ in {DOMAIN} "
                          f"(e.g. vislab sweep officehome-erm {DOMAIN}={','.join(OFFICEHOME_DOMAINS)} --seeds 3)")
    by_method: dict[str, Cell] = {}
    notes, unsplit = [], []
    for g in groups:
        method = describe({k: v for k, v in g.settings.items() if k != DOMAIN and k not in select_over}) or "all runs"
        hparams = json.dumps({k: g.settings[k] for k in select_over}, sort_keys=True, default=str)
        for run in g.runs:
            val, parts = value(run, "val_acc"), test_parts(run)
            if val is None:
                notes.append(f"{run.dir.name} has no val_acc: left out of the domain tables.")
            elif parts is None:
                unsplit.append(run.dir.name)
            else:
                by_method.setdefault(method, {}).setdefault((str(g.settings[DOMAIN]), seed_of(run)), {})[hparams] = Result(val, *parts)
    if unsplit:
        notes.append(f"No per-image test records (records/test.npz), so no 80/20 split of the test domain, in "
                     f"{', '.join(unsplit)}: left out of the domain tables (`vislab eval RUN --split test` writes them).")
    domains = sorted({d for cells in by_method.values() for d, _ in cells})
    tables = [DomainTable(rule.name, domains, [DomainRow(m, _cells(cells, domains, rule)) for m, cells in by_method.items()])
              for rule in RULES]
    if not select_over:
        notes.append("No --select-over keys: each method has one hyperparameter setting, so the three rules pick the same runs.")
    return tables, notes


def _cells(cells: Cell, domains: list[str], rule: SelectionRule) -> dict[str, tuple[float, float, int]]:
    seeds = sorted({s for _, s in cells}, key=repr)
    picked = {d: {s: rule.pick(cells, d, s) for s in seeds} for d in domains}
    out = {d: mean_se([v for v in picked[d].values() if v is not None]) for d in domains}
    complete = [s for s in seeds if all(picked[d][s] is not None for d in domains)]
    out["Avg"] = mean_se([float(np.mean([picked[d][s] for d in domains])) for s in complete])
    return out


def mean_se(values: list[float]) -> tuple[float, float, int]:
    """(mean, standard error, n) in percent, as DomainBed's format_mean computes it: the standard deviation
    with ddof=0, over sqrt(n)."""
    if not values:
        return (math.nan, math.nan, 0)
    x = 100 * np.asarray(values)
    return (float(x.mean()), float(x.std(ddof=0) / math.sqrt(len(x))), len(x))


def cell_text(cell: tuple[float, float, int]) -> str:
    """'85.5 ± 0.2' as DomainBed prints it; the mean alone for one seed; 'X' where no run has the domain."""
    mean, se, n = cell
    if n == 0:
        return "X"
    return f"{mean:.1f} ± {se:.1f}" if n > 1 else f"{mean:.1f}"
