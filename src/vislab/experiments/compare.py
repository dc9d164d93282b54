"""`vislab compare`: group run directories by the settings that differ, and say whether a change helped.

Each run contributes the metrics of its best checkpoint: validation metrics at its best epoch (chosen on
that same split, so optimistic) and test metrics of best.pt (not optimistic). Runs that differ only in
``train.seed`` form a group; each group is compared with the baseline group (see ``stats``).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..config import flatten, parse_override
from ..errors import VislabError
from ..runs import Run, find_runs
from . import stats
from .aggregate import AggregateRow, aggregate_table
from .domains import DOMAIN, DomainTable, domain_tables
from .image_noise import ImageRow, image_table
from .importance import importances, runs_study
from .sequential import seeds_needed
from .space import SEED, describe

# Keys that do not make runs different experiments: the seed, and where or how visibly a run was done.
IGNORED = {SEED, "description", "data.root", "data.download", "data.num_workers", "train.progress",
           "train.checkpoint_every_steps"}
NAN = float("nan")


@dataclass
class Group:
    """Runs with the same settings apart from the seed."""

    label: str
    settings: dict[str, Any]
    runs: list[Run]


@dataclass
class Row:
    """One group's line in a metric's table (NaN where a number does not exist)."""

    group: str
    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    best_epoch: Optional[int]  # the median over the group's runs (the lower middle one: an epoch some run had)
    wall_s: float
    diff: float = NAN
    diff_low: float = NAN
    diff_high: float = NAN
    p: float = NAN
    p_holm: float = NAN
    test: str = ""
    verdict: str = ""
    seeds_needed: Optional[int] = None  # per group, for 80% power at the observed difference (None: over 1000)
    seeds_min_effect: Optional[int] = None  # the same for --min-effect


@dataclass
class Comparison:
    groups: list[Group]
    baseline: Group
    keys: list[str]  # the settings that differ between groups
    metrics: list[str]
    modes: dict[str, str]  # metric -> "max" or "min"
    tables: dict[str, list[Row]]
    skipped: list[tuple[Path, str]]  # runs left out, with their status
    sources: list[Path]
    notes: list[str] = field(default_factory=list)  # what was counted once or left out, and why
    image_tables: dict[str, list[ImageRow]] = field(default_factory=dict)  # metric -> rows over test images
    out: Optional[Path] = None
    files: list[Path] = field(default_factory=list)
    min_effect: Optional[float] = None
    aggregate_over: Optional[str] = None
    aggregates: dict[str, list[AggregateRow]] = field(default_factory=dict)  # metric -> rows (with aggregate_over)
    domain_tables: list[DomainTable] = field(default_factory=list)  # --table domains: one per selection rule
    importances: dict[str, float] = field(default_factory=dict)  # fANOVA importance per key (sweeps over 2+ keys)
    study: Any = None  # the runs as an Optuna study, for the parallel-coordinates plot


# ----------------------------------------------------------------------------------------------
# Runs and groups
# ----------------------------------------------------------------------------------------------


def load_runs(dirs: list[str | Path]) -> tuple[list[Run], list[tuple[Path, str]], list[str]]:
    """Completed runs at or below each directory (each run once), the others with their status, and notes.

    A run reached twice (named directly and inside its sweep) is one sample, not two. Runs of different tasks
    (classification, segmentation, ...) have different metrics and are refused rather than silently dropped.
    """
    if not dirs:
        raise VislabError("name at least one run or sweep directory to compare")
    runs, skipped, seen, twice = [], [], set(), []
    for d in dirs:
        path = Path(d).expanduser()
        if not path.is_dir():
            raise VislabError(f"{path} does not exist; give run or sweep directories")
        found = list(find_runs(path))
        if not found:
            raise VislabError(f"{path} holds no run directories (no config.yaml with a summary.json)")
        for run in found:
            if run.dir.resolve() in seen:
                twice.append(run.dir.name)
                continue
            seen.add(run.dir.resolve())
            status = run.summary.get("status", "no summary")
            if status == "completed":
                runs.append(run)
            else:
                skipped.append((run.dir, status))
    if not runs:
        raise VislabError(f"none of the {len(skipped)} runs found completed; nothing to compare")
    check_one_task(runs)
    notes = [f"Named more than once, counted once: {', '.join(sorted(set(twice)))}."] if twice else []
    return runs, skipped, notes


def check_one_task(runs: list[Run]) -> None:
    """Refuse runs of several tasks: their metrics differ, so some would drop out of every table."""
    by_task: dict[str, list[Run]] = {}
    for run in runs:
        by_task.setdefault(str(run.summary.get("task", "unknown")), []).append(run)
    if len(by_task) > 1:
        parts = "; ".join(f"{task}: {len(rs)} runs, e.g. {rs[0].dir}" for task, rs in by_task.items())
        raise VislabError(f"the runs are of {len(by_task)} tasks ({parts}); compare each task's runs separately")


def group_runs(runs: list[Run]) -> tuple[list[Group], list[str]]:
    """Groups in order of first appearance, by every config key whose value differs (apart from the seed)."""
    flats = [flatten(run.config) for run in runs]
    keys = sorted({k for f in flats for k in f} - IGNORED)
    differing = [k for k in keys if len({_canon(f.get(k)) for f in flats}) > 1]
    groups: dict[str, Group] = {}
    for run, flat in zip(runs, flats):
        settings = {k: flat.get(k) for k in differing}
        key = _canon(settings)
        if key not in groups:
            groups[key] = Group(describe(settings) or "all runs", settings, [])
        groups[key].runs.append(run)
    return list(groups.values()), differing


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def pick_baseline(groups: list[Group], baseline: Optional[list[str]]) -> Group:
    """The group matching every ``key=value`` given (the first group when none is given)."""
    if not baseline:
        return groups[0]
    wanted = dict(parse_override(item) for item in baseline)
    matches = [g for g in groups if all(_matches(g, k, v) for k, v in wanted.items())]
    labels = "; ".join(g.label for g in groups)
    if not matches:
        raise VislabError(f"no group has {' '.join(baseline)}; the groups are: {labels}")
    if len(matches) > 1:
        raise VislabError(f"{' '.join(baseline)} matches {len(matches)} groups; add another --baseline key=value (groups: {labels})")
    return matches[0]


def split_strata(groups: list[Group], keys: list[str], baseline: Optional[list[str]],
                 aggregate_over: Optional[str]) -> list[tuple[Group, list[Group]]]:
    """(baseline, groups) families compared on their own: all groups, or one family per value of
    ``aggregate_over`` (a dataset or domain), each with its own baseline group matching ``baseline``."""
    if aggregate_over is None:
        return [(pick_baseline(groups, baseline), groups)]
    if aggregate_over not in keys:
        raise VislabError(f"--aggregate-over {aggregate_over}: the runs do not differ in it; they differ in {', '.join(keys) or 'nothing but the seed'}")
    if any(item.split("=", 1)[0].strip() == aggregate_over for item in baseline or []):
        raise VislabError(f"--baseline names the method; leave {aggregate_over} out of it (every value of it is compared)")
    strata: dict[str, list[Group]] = {}
    for g in groups:
        strata.setdefault(_canon(g.settings[aggregate_over]), []).append(g)
    if baseline:
        return [(pick_baseline(gs, baseline), gs) for gs in strata.values()]
    first = method_label(groups[0], aggregate_over)  # the same method is the baseline of every stratum
    families = []
    for gs in strata.values():
        match = [g for g in gs if method_label(g, aggregate_over) == first]
        if not match:
            raise VislabError(f"{first} has no runs with {aggregate_over}={gs[0].settings[aggregate_over]}; choose a --baseline that ran on every one")
        families.append((match[0], gs))
    return families


def method_label(group: Group, aggregate_over: str) -> str:
    """The group's label without the stratum key: the method it runs."""
    return describe({k: v for k, v in group.settings.items() if k != aggregate_over}) or "all runs"


def methods(groups: list[Group], aggregate_over: str, metric: str) -> dict[str, dict[str, np.ndarray]]:
    """method label -> stratum value -> the metric's values over seeds."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for g in groups:
        values = [v for _, v in seed_values(g, metric)]
        if values:
            out.setdefault(method_label(g, aggregate_over), {})[_canon(g.settings[aggregate_over])] = np.asarray(values)
    return out


def _matches(group: Group, key: str, value: Any) -> bool:
    return _canon(flatten(group.runs[0].config).get(key, object())) == _canon(value)


# ----------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------


def run_value(run: Run, metric: str) -> Optional[float]:
    """The metric of the run's best checkpoint: test_* from summary.json, others at the best epoch."""
    summary = run.summary
    if metric.startswith("test_"):
        return _float(summary.get("metrics", {}).get(metric))
    row = next((r for r in run.history if r.get("epoch") == summary.get("best_epoch")), None)
    return _float(row.get(metric)) if row else None


def _float(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def default_metrics(runs: list[Run]) -> list[str]:
    """The monitored metric and its test counterpart when the runs have one: e.g. val_acc, test_acc."""
    monitor = runs[0].summary.get("best_metric") or "val_loss"
    test = "test_" + monitor.split("_", 1)[-1]
    return [monitor] + ([test] if any(run_value(r, test) is not None for r in runs) else [])


def metric_mode(metric: str, runs: list[Run]) -> str:
    """'max' or 'min': the monitored metric's own mode (for any split), else min for losses, max otherwise."""
    summary = runs[0].summary
    monitor, mode = summary.get("best_metric"), summary.get("mode")
    if monitor and mode in ("max", "min") and _bare(metric) == _bare(monitor):
        return mode
    return "min" if _bare(metric).endswith("loss") else "max"


def _bare(metric: str) -> str:
    for split in ("train_", "val_", "test_"):
        if metric.startswith(split):
            return metric[len(split):]
    return metric


def baseline_first(groups: list[Group], baseline: Group) -> list[Group]:
    return [baseline] + [g for g in groups if g is not baseline]


def metric_table(groups: list[Group], baseline: Group, metric: str, mode: str, min_effect: Optional[float] = None) -> list[Row]:
    """Rows for every group with the metric, the baseline first; differences Holm-corrected together, with the
    seeds each group would need to detect the observed difference (and ``min_effect``) at 80% power."""
    ordered = baseline_first(groups, baseline)
    rows, diffs = [], []
    base_pairs = seed_values(baseline, metric)
    for group in ordered:
        pairs = seed_values(group, metric)
        if not pairs:
            continue
        est = stats.estimate([v for _, v in pairs])
        row = Row(
            group.label, est.n, est.mean, est.std, est.low, est.high,
            median_epoch(group.runs),
            float(np.mean([r.summary.get("wall_s") or NAN for r in group.runs])),
        )
        if group is baseline:
            row.verdict = "baseline"
        elif base_pairs:
            d = stats.difference(pairs, base_pairs)
            row.diff, row.diff_low, row.diff_high, row.p, row.test = d.diff, d.low, d.high, d.p, d.test
            if d.test != "none":
                row.seeds_needed = seeds_needed(d.diff, d.sd, d.test == "paired")
                if min_effect is not None:
                    row.seeds_min_effect = seeds_needed(min_effect, d.sd, d.test == "paired")
            diffs.append(row)
        rows.append(row)
    for row, p_adj in zip(diffs, stats.holm([r.p for r in diffs])):
        row.p_holm = p_adj
        if row.test == "none":
            row.verdict = "no p-value: one run"
        else:
            row.verdict = stats.verdict(row.diff, p_adj, mode)
    return rows


def median_epoch(runs: list[Run]) -> Optional[int]:
    epochs = [r.summary["best_epoch"] for r in runs if isinstance(r.summary.get("best_epoch"), int)]
    return statistics.median_low(epochs) if epochs else None


def run_seed(run: Run) -> Any:
    seed = run.summary.get("seed")
    return seed if seed is not None else run.config.train.seed  # the config only for runs without a summary seed


def seed_values(group: Group, metric: str) -> list[tuple[Any, float]]:
    """(seed, value) per seed of the group: runs that repeat a seed with the same settings are not independent
    samples, so they count once, with the mean of their values."""
    by_seed: dict[Any, list[float]] = {}
    for run in group.runs:
        value = run_value(run, metric)
        if value is not None:
            by_seed.setdefault(run_seed(run), []).append(value)
    return [(seed, float(np.mean(values))) for seed, values in by_seed.items()]


def honesty_notes(groups: list[Group], metrics: list[str]) -> list[str]:
    """Sentences on what counted once (repeated seeds) and which runs lack a metric of the tables."""
    notes = []
    for group in groups:
        by_seed: dict[Any, list[Run]] = {}
        for run in group.runs:
            by_seed.setdefault(run_seed(run), []).append(run)
        for seed, runs in by_seed.items():
            if len(runs) > 1:
                names = ", ".join(r.dir.name for r in runs)
                notes.append(f"{len(runs)} runs of {group.label} repeat seed {seed} ({names}): not independent samples, "
                             "counted once with their mean.")
    for metric in metrics:
        missing = [r.dir.name for g in groups for r in g.runs if run_value(r, metric) is None]
        if missing:
            notes.append(f"Left out of the {metric} table, no such value: {', '.join(missing)}.")
    return notes


# ----------------------------------------------------------------------------------------------
# The API
# ----------------------------------------------------------------------------------------------


def compare(
    dirs: str | Path | list[str | Path],
    baseline: Optional[list[str]] = None,
    metrics: Optional[list[str]] = None,
    out: Optional[str | Path] = None,
    band: str = "std",
    min_effect: Optional[float] = None,
    aggregate_over: Optional[str] = None,
    table: str = "groups",
    select_over: Optional[list[str]] = None,
) -> Comparison:
    """Compare the runs under ``dirs`` and write report.md, report.html and curve PNGs to ``out``.

    ``vislab.compare(["runs/sweeps/digits-..."], baseline=["optim.name=adam"])``; ``out`` defaults to
    ``<dir>/report`` for one directory and ./report for several. ``aggregate_over`` names the key whose values
    are tasks, datasets or domains (e.g. data.name): each of its values is compared on its own, and the report
    adds rliable's aggregates over them. ``table="domains"`` adds DomainBed's tables of leave-one-domain-out
    runs under three model-selection rules, choosing among the settings of the ``select_over`` keys (and
    aggregates over the test domains). Returns the tables.
    """
    from .report import write_report

    if isinstance(dirs, (str, Path)):
        dirs = [dirs]
    if band not in ("std", "minmax"):
        raise VislabError(f"--band must be std or minmax, not '{band}'")
    if table not in ("groups", "domains"):
        raise VislabError(f"--table must be groups or domains, not '{table}'")
    if select_over and table != "domains":
        raise VislabError("--select-over goes with --table domains (the hyperparameters a selection rule chooses among)")
    runs, skipped, notes = load_runs(dirs)
    groups, keys = group_runs(runs)
    domain_result: tuple[list[DomainTable], list[str]] = ([], [])
    if table == "domains":
        domain_result = domain_tables(groups, keys, select_over or [], run_value, run_seed)
        aggregate_over = aggregate_over or DOMAIN
    families = split_strata(groups, keys, baseline, aggregate_over)
    base = families[0][0]
    metrics = metrics or default_metrics(runs)
    known = sorted({k for r in runs for k in [*r.summary.get("metrics", {}), *(r.history[0] if r.history else {})]})
    for metric in metrics:
        if all(run_value(r, metric) is None for r in runs):
            raise VislabError(f"no run has metric '{metric}'; the runs have {', '.join(k for k in known if k != 'epoch')}")
    modes = {m: metric_mode(m, runs) for m in metrics}
    if min_effect is not None and not min_effect > 0:
        raise VislabError(f"--min-effect must be a positive difference of the metric, not {min_effect}")
    tables = {m: [row for b, gs in families for row in metric_table(gs, b, m, modes[m], min_effect)] for m in metrics}
    sources = [Path(d).expanduser() for d in dirs]
    notes += honesty_notes(groups, metrics) + domain_result[1]
    image_tables = {}
    for m in metrics:
        for b, gs in families:
            rows, more = image_table(baseline_first(gs, b), b, m, run_seed, {r.group: r.std for r in tables[m]})
            notes += more
            image_tables.setdefault(m, []).extend(rows)
    image_tables = {m: rows for m, rows in image_tables.items() if rows}
    result = Comparison(groups, base, keys, metrics, modes, tables, skipped, sources, notes, image_tables)
    result.min_effect = min_effect
    result.domain_tables = domain_result[0]
    swept = [k for k in keys if k not in (aggregate_over, *(select_over or []))]
    if len(swept) >= 2:
        result.study = runs_study(groups, swept, metrics[0], modes[metrics[0]], run_value)
        result.importances = importances(result.study)
    if aggregate_over:
        result.aggregate_over = aggregate_over
        result.aggregates = {m: aggregate_table(methods(groups, aggregate_over, m), method_label(base, aggregate_over), modes[m])
                             for m in metrics}
    result.out = Path(out).expanduser() if out else (sources[0] / "report" if len(sources) == 1 else Path("report"))
    result.files = write_report(result, band)
    return result
