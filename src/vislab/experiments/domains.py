"""`vislab compare SWEEP --table domains`: domain-generalization results as DomainBed prints them.

Leave-one-domain-out runs (``data.test_domain`` = each domain in turn) give a row per method (the settings
apart from the test domain, the seed and the hyperparameters named by ``--select-over``), a column per
test domain and the average, each mean ± standard error over seeds, in percent. For each method, test
domain and seed, a model-selection rule picks one hyperparameter setting (Gulrajani & Lopez-Paz, "In Search
of Lost Domain Generalization", ICLR 2021; DomainBed's model_selection.py):

  training-domain validation   the highest accuracy on the validation split of the training domains
  leave-one-domain-out         the highest mean accuracy on the other domains when they were held out (the
                               same setting's runs with those test domains; unlike DomainBed, those runs also
                               trained on this test domain, so this rule is a little optimistic)
  oracle                       the highest accuracy on the test domain itself (an upper bound, not a method)

Each run counts with its best.pt (chosen by validation on the training domains). The Avg column averages a
seed's domains first, then takes mean ± standard error over the seeds that have every domain.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from ..errors import VislabError
from .space import describe

DOMAIN = "data.test_domain"
RULES = ["training-domain validation", "leave-one-domain-out", "oracle"]


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


Cell = dict[tuple[str, Any], dict[str, tuple[float, float]]]  # (domain, seed) -> hyperparameters -> (val, test)


def domain_tables(groups: list[Any], keys: list[str], select_over: list[str], value: Callable[[Any, str], Optional[float]],
                  seed_of: Callable[[Any], Any]) -> tuple[list[DomainTable], list[str]]:
    """The three rules' tables from the groups of a comparison, and notes on what could not be used."""
    if DOMAIN not in keys:
        raise VislabError(f"--table domains needs leave-one-domain-out runs that differ in {DOMAIN} "
                          f"(e.g. vislab sweep officehome-erm {DOMAIN}=Art,Clipart,Product,RealWorld --seeds 3)")
    unknown = [k for k in select_over if k not in keys]
    if unknown:
        raise VislabError(f"--select-over {', '.join(unknown)}: the runs do not differ in it; they differ in {', '.join(keys)}")
    by_method: dict[str, Cell] = {}
    notes = []
    for g in groups:
        method = describe({k: v for k, v in g.settings.items() if k != DOMAIN and k not in select_over}) or "all runs"
        hparams = json.dumps({k: g.settings[k] for k in select_over}, sort_keys=True, default=str)
        for run in g.runs:
            val, test = value(run, "val_acc"), value(run, "test_acc")
            if val is None or test is None:
                notes.append(f"{run.dir.name} has no val_acc or test_acc: left out of the domain tables.")
                continue
            by_method.setdefault(method, {}).setdefault((str(g.settings[DOMAIN]), seed_of(run)), {})[hparams] = (val, test)
    domains = sorted({d for cells in by_method.values() for d, _ in cells})
    tables = [DomainTable(rule, domains, [DomainRow(m, _cells(cells, domains, rule)) for m, cells in by_method.items()])
              for rule in RULES]
    if not select_over:
        notes.append("No --select-over keys: each method has one hyperparameter setting, so the three rules pick the same runs.")
    return tables, notes


def _pick(cells: Cell, domain: str, seed: Any, rule: str) -> Optional[float]:
    """The test accuracy of the setting the rule picks for (domain, seed)."""
    options = cells.get((domain, seed))
    if not options:
        return None
    if rule == "training-domain validation":
        score = {h: val for h, (val, _) in options.items()}
    elif rule == "oracle":
        score = {h: test for h, (_, test) in options.items()}
    else:
        score = {}
        for h in options:
            others = [cells[(d, s)][h][1] for (d, s) in cells if d != domain and s == seed and h in cells[(d, s)]]
            if others:
                score[h] = float(np.mean(others))
        if not score:
            return None
    return options[max(score, key=score.get)][1]


def _cells(cells: Cell, domains: list[str], rule: str) -> dict[str, tuple[float, float, int]]:
    seeds = sorted({s for _, s in cells}, key=repr)
    picked = {d: {s: _pick(cells, d, s, rule) for s in seeds} for d in domains}
    out = {d: _mean_se([v for v in picked[d].values() if v is not None]) for d in domains}
    complete = [s for s in seeds if all(picked[d][s] is not None for d in domains)]
    out["Avg"] = _mean_se([float(np.mean([picked[d][s] for d in domains])) for s in complete])
    return out


def _mean_se(values: list[float]) -> tuple[float, float, int]:
    if not values:
        return (math.nan, math.nan, 0)
    x = 100 * np.asarray(values)
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan
    return (float(x.mean()), se, len(x))


def cell_text(cell: tuple[float, float, int]) -> str:
    """'85.5 ± 0.2' as DomainBed prints it; 'X' where no run has the domain."""
    mean, se, n = cell
    if n == 0:
        return "X"
    return f"{mean:.1f} ± {se:.1f}" if n > 1 else f"{mean:.1f}"
