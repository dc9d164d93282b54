"""`vislab compare`: group run directories by the settings that differ, and say whether a change helped.

Each run contributes the metrics of its best checkpoint: validation metrics at its best epoch (chosen on
that same split, so optimistic) and test metrics of best.pt (not optimistic). Runs that differ only in
``train.seed`` form a group. Groups on the same data form a family (``families``: the one rule that
`vislab board` follows too); each group is compared with its family's baseline group (see stats/over_seeds.py), never
with a group that saw other data.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ...config import check_key, flatten, parse_override
from ...errors import VislabError
from ...runs import Run, find_runs
from ...schemes.settings import unread_keys
from ..stats import over_seeds as stats
from ..stats.aggregate import AggregateRow, aggregate_table
from ..stats.sequential import seeds_needed
from ..sweep.space import FOLD, SEED, describe
from .data_records import read_record
from .domain_tables import DOMAIN, DomainTable, domain_tables
from .image_noise import ImageRow, image_table
from .importance import importances, runs_study
from .per_class import ClassTable, class_metric, class_table

# Keys that do not make runs different experiments: the seed and the cross-validation fold (repeats of one
# setting, see run_seed), and where or how visibly a run was done.
IGNORED = {SEED, FOLD, "description", "data.download", "data.num_workers", "train.progress", "train.checkpoint_every_steps"}
# data.* keys that are part of the method (how batches are drawn and augmented, which training images are left
# out), not of which validation and test data a run sees.
METHOD_DATA_KEYS = {"data.in_memory", "data.sampler", "data.domains_per_batch", "data.repeat", "data.bootstrap", "data.exclude"}
# data.* keys whose differences mean that runs trained on different images (training_data_notes)
TRAINING_DATA_KEYS = ("data.exclude", "data.split_seed", "data.folds")
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
    strata: list[str] = field(default_factory=list)  # keys whose values are compared apart (data, --aggregate-over)
    class_table: Optional[ClassTable] = None  # per class, over test images, where the runs kept records


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
    """Groups in order of first appearance, by every config key whose value differs (apart from the seed). A run
    has no say in a key it does not read (schemes.settings.unread_keys) and is labelled without it."""
    flats = [flatten(run.config) for run in runs]
    unread = [unread_keys(f) for f in flats]
    keys = sorted({k for f in flats for k in f} - IGNORED)
    differing = [k for k in keys if len({_canon(f.get(k)) for f, idle in zip(flats, unread) if k not in idle}) > 1]
    groups: dict[str, Group] = {}
    for run, flat, idle in zip(runs, flats, unread):
        settings = {k: flat.get(k) for k in differing if k not in idle}
        key = _canon(settings)
        if key not in groups:
            groups[key] = Group(describe(settings) or "all runs", settings, [])
        groups[key].runs.append(run)
    return list(groups.values()), differing


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@dataclass
class Family:
    """Groups on the same data, compared with one another and never with groups on other data: one value of
    each data-defining key the runs differ in (and of ``--aggregate-over``). ``baseline`` is None where the
    family has no run of the baseline method."""

    stratum: str  # e.g. "data.test_domain=art", "" when every run saw the same data
    groups: list[Group]
    baseline: Optional[Group]


def data_key(key: str) -> bool:
    """Whether a config key says which data a run sees (data.root, data.name, data.test_domain, data.split_seed,
    data.labeled_*, ...): runs that differ in one are never each other's repeats or baseline."""
    return key.startswith("data.") and key not in METHOD_DATA_KEYS


def stratum_keys(keys: list[str], aggregate_over: Optional[str] = None) -> list[str]:
    """The keys the runs differ in that split them into families: the data-defining ones and ``aggregate_over``."""
    return [k for k in keys if data_key(k) or k == aggregate_over]


def families(groups: list[Group], keys: list[str], baseline: Optional[list[str]] = None,
             aggregate_over: Optional[str] = None, baseline_group: Optional[Group] = None) -> list[Family]:
    """The grouping rule of `vislab compare` and `vislab board`: a family per value of the stratum keys, each
    with the baseline method's group on that data: the group matching every ``key=value`` of ``baseline``, or
    the one that runs the method of ``baseline_group`` (default: the first group)."""
    strata = stratum_keys(keys, aggregate_over)
    named = [k for k in (parse_override(item)[0] for item in baseline or []) if k in strata]
    if named:
        raise VislabError(f"--baseline names the method; leave {', '.join(named)} out of it (runs on different data "
                          "are compared within each value of it)")
    by_stratum: dict[str, list[Group]] = {}
    for g in groups:
        by_stratum.setdefault(_canon({k: g.settings[k] for k in strata}), []).append(g)
    if baseline:
        found = [Family(_stratum(gs[0], strata), gs, pick_baseline(gs, baseline, groups)) for gs in by_stratum.values()]
        if not any(f.baseline for f in found):
            raise VislabError(f"no group has {' '.join(baseline)}; the groups are: {'; '.join(g.label for g in groups)}")
        return found
    method = method_label(baseline_group or groups[0], strata)
    return [Family(_stratum(gs[0], strata), gs, next((g for g in gs if method_label(g, strata) == method), None))
            for gs in by_stratum.values()]


def _stratum(group: Group, strata: list[str]) -> str:
    return describe({k: group.settings[k] for k in strata})


def pick_baseline(groups: list[Group], baseline: list[str], every: list[Group]) -> Optional[Group]:
    """The group matching every ``key=value`` given, None when none does; ``every``: all groups, for the message."""
    wanted = dict(parse_override(item) for item in baseline)
    matches = [g for g in groups if all(_matches(g, k, v) for k, v in wanted.items())]
    if len(matches) > 1:
        labels = "; ".join(g.label for g in every)
        raise VislabError(f"{' '.join(baseline)} matches {len(matches)} groups; add another --baseline key=value (groups: {labels})")
    return matches[0] if matches else None


def method_label(group: Group, strata: list[str]) -> str:
    """The group's label without the stratum keys: the method it runs."""
    return describe({k: v for k, v in group.settings.items() if k not in strata}) or "all runs"


def methods(groups: list[Group], strata: list[str], metric: str) -> dict[str, dict[str, np.ndarray]]:
    """method label -> stratum (the values of the ``strata`` keys: the data) -> the metric's values over seeds."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for g in groups:
        values = [v for _, v in seed_values(g, metric)]
        if values:
            out.setdefault(method_label(g, strata), {})[_canon({k: g.settings[k] for k in strata})] = np.asarray(values)
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


def metric_table(family: Family, metric: str, mode: str, min_effect: Optional[float] = None) -> list[Row]:
    """Rows for every group of a family with the metric, the baseline first; differences Holm-corrected together,
    with the seeds each group would need to detect the observed difference (and ``min_effect``) at 80% power.
    Intervals of a bounded metric (``stats.bounds``) stay in its range."""
    baseline, limits = family.baseline, stats.bounds(metric)
    ordered = baseline_first(family.groups, baseline) if baseline else family.groups
    rows, diffs = [], []
    base_pairs = seed_values(baseline, metric) if baseline else []
    for group in ordered:
        pairs = seed_values(group, metric)
        if not pairs:
            continue
        est = stats.estimate([v for _, v in pairs], limits=limits)
        row = Row(
            group.label, est.n, est.mean, est.std, est.low, est.high,
            median_epoch(group.runs),
            float(np.mean([r.summary.get("wall_s") or NAN for r in group.runs])),
        )
        if group is baseline:
            row.verdict = "baseline"
        elif baseline is None:
            row.verdict = "not compared: no baseline run on this data"
        elif base_pairs:
            d = stats.difference(pairs, base_pairs, limits=limits)
            row.diff, row.diff_low, row.diff_high, row.p, row.test, row.verdict = d.diff, d.low, d.high, d.p, d.test, d.why
            if d.test != "none":
                row.seeds_needed = seeds_needed(d.diff, d.sd, d.test == "paired")
                if min_effect is not None:
                    row.seeds_min_effect = seeds_needed(min_effect, d.sd, d.test == "paired")
            diffs.append(row)
        rows.append(row)
    for row, p_adj in zip(diffs, stats.holm([r.p for r in diffs])):
        row.p_holm = p_adj
        if row.test != "none":
            row.verdict = stats.verdict(row.diff, p_adj, mode)
    return rows


def comparison_rows(found: list[Family], metric: str, mode: str, min_effect: Optional[float] = None) -> list[Row]:
    """Every family's rows, family after family: the comparison table of compare and board."""
    return [row for family in found for row in metric_table(family, metric, mode, min_effect)]


def median_epoch(runs: list[Run]) -> Optional[int]:
    epochs = [r.summary["best_epoch"] for r in runs if isinstance(r.summary.get("best_epoch"), int)]
    return statistics.median_low(epochs) if epochs else None


def run_seed(run: Run) -> Any:
    """What makes a run one repeat of its group: its seed, and with cross-validation (data.folds) the pair
    (seed, fold), so that a group's folds are its samples and two groups pair up fold by fold."""
    seed = run.summary.get("seed")
    seed = seed if seed is not None else run.config.train.seed  # the config only for runs without a summary seed
    return seed if run.config.data.folds is None else (seed, run.config.data.fold)


def seed_values(group: Group, metric: str) -> list[tuple[Any, float]]:
    """(seed, value) per seed of the group: runs that repeat a seed with the same settings are not independent
    samples, so they count once, with the mean of their values."""
    by_seed: dict[Any, list[float]] = {}
    for run in group.runs:
        value = run_value(run, metric)
        if value is not None:
            by_seed.setdefault(run_seed(run), []).append(value)
    return [(seed, float(np.mean(values))) for seed, values in by_seed.items()]


def check_differing(option: str, key: str, keys: list[str]) -> None:
    """Bad input unless the runs differ in config key ``key`` (named by ``option``); a name that is no config
    key at all gets close matches."""
    if key in keys:
        return
    try:
        check_key(key)
    except VislabError as e:
        raise VislabError(f"{option} {key}: {e}") from None
    raise VislabError(f"{option} {key}: the runs do not differ in it; they differ in {', '.join(keys) or 'nothing but the seed'}")


def family_notes(found: list[Family]) -> list[str]:
    """A sentence per family without a baseline run on its data: its groups are compared with nothing."""
    return [f"Not compared, no run of the baseline method with {f.stratum}: {'; '.join(g.label for g in f.groups)}."
            for f in found if f.baseline is None]


def leak_notes(runs: list[Run]) -> list[str]:
    """A sentence per checked dataset of these runs where `vislab data check` found images in two splits: their
    test (or validation) numbers measure images the model trained on."""
    from ...config import to_dict
    from ...data.files.identity import data_identity, run_files

    found: dict[str, tuple[dict, list[str]]] = {}
    for run in runs:
        identity = data_identity(to_dict(run.config)["data"], run_files(run.dir))
        record = read_record(run.dir, identity)
        if record is not None and record.get("leaks"):
            found.setdefault(identity, (record, []))[1].append(run.dir.name)
    return [f"Data check: {r['leaks']} images of the data of {_some(names)} leak across splits "
            f"({', '.join(r['leak_splits'])}; e.g. {' = '.join(r['examples'][0])}), so their held-out numbers are "
            f"optimistic; see {r['report']}." for r, names in found.values()]


def _some(names: list[str], shown: int = 3) -> str:
    """'a, b, c and 5 more runs'."""
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more runs" if len(names) > shown else "")


def training_data_notes(groups: list[Group], keys: list[str]) -> list[str]:
    """A warning per way the compared runs trained on different images: another data.exclude (compared, as a
    method), another data.split_seed or data.folds (never compared across), or groups that ran other folds."""
    notes = []
    for key in TRAINING_DATA_KEYS:
        if key in keys:
            values = sorted({_canon(g.settings.get(key)) for g in groups})
            how = ("compared as a method: the difference mixes the training images with the method" if key == "data.exclude"
                   else "each value is compared on its own, never with another")
            notes.append(f"Warning: the groups trained on different data, {key} = {', '.join(values)}; {how}.")
    folds = {g.label: sorted({r.config.data.fold for r in g.runs if r.config.data.folds is not None}) for g in groups}
    if len({tuple(v) for v in folds.values()}) > 1:
        shown = "; ".join(f"{label}: {', '.join(map(str, v)) or 'none'}" for label, v in folds.items())
        notes.append(f"Warning: the groups trained on different cross-validation folds ({shown}); their means are over "
                     "different training images.")
    return notes


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


def per_class_table(found: list[Family], metrics: list[str], modes: dict[str, str]) -> tuple[Optional[ClassTable], list[str]]:
    """The per-class table of the first metric of ``metrics`` that records recompute per class (a test metric
    first: per_class.class_metric), and notes; None without such a metric or records."""
    metric = class_metric(metrics)
    return class_table(found, metric, modes[metric], run_seed) if metric else (None, [])


def compare_runs(
    dirs: list[str | Path],
    baseline: Optional[list[str]] = None,
    metrics: Optional[list[str]] = None,
    out: Optional[str | Path] = None,
    min_effect: Optional[float] = None,
    aggregate_over: Optional[str] = None,
    table: str = "groups",
    select_over: Optional[list[str]] = None,
) -> Comparison:
    """The comparison of the runs under ``dirs`` (see vislab.compare, which also writes its report to
    ``Comparison.out``): groups, tables, tests and notes; nothing is written."""
    if table not in ("groups", "domains"):
        raise VislabError(f"--table must be groups or domains, not '{table}'")
    if select_over and table != "domains":
        raise VislabError("--select-over goes with --table domains (the hyperparameters a selection rule chooses among)")
    runs, skipped, notes = load_runs(dirs)
    notes += leak_notes(runs)
    groups, keys = group_runs(runs)
    for option, key in [("--aggregate-over", aggregate_over), *(("--select-over", k) for k in select_over or [])]:
        if key is not None:
            check_differing(option, key, keys)
    domain_result: tuple[list[DomainTable], list[str]] = ([], [])
    if table == "domains":
        domain_result = domain_tables(groups, keys, select_over or [], run_value, run_seed)
        aggregate_over = aggregate_over or DOMAIN
    found = families(groups, keys, baseline, aggregate_over)
    base = next(f.baseline for f in found if f.baseline)
    metrics = metrics or default_metrics(runs)
    known = sorted({k for r in runs for k in [*r.summary.get("metrics", {}), *(r.history[0] if r.history else {})]})
    for metric in metrics:
        if all(run_value(r, metric) is None for r in runs):
            raise VislabError(f"no run has metric '{metric}'; the runs have {', '.join(k for k in known if k != 'epoch')}")
    modes = {m: metric_mode(m, runs) for m in metrics}
    if min_effect is not None and not min_effect > 0:
        raise VislabError(f"--min-effect must be a positive difference of the metric, not {min_effect}")
    tables = {m: comparison_rows(found, m, modes[m], min_effect) for m in metrics}
    sources = [Path(d).expanduser() for d in dirs]
    notes += training_data_notes(groups, keys) + family_notes(found) + honesty_notes(groups, metrics) + domain_result[1]
    image_tables = {}
    for m in metrics:
        for f in found:
            ordered = baseline_first(f.groups, f.baseline) if f.baseline else f.groups
            rows, more = image_table(ordered, f.baseline, m, run_seed, {r.group: r.std for r in tables[m]})
            notes += more
            image_tables.setdefault(m, []).extend(rows)
    image_tables = {m: rows for m, rows in image_tables.items() if rows}
    per_class, more = per_class_table(found, metrics, modes)
    notes += more
    result = Comparison(groups, base, keys, metrics, modes, tables, skipped, sources, notes, image_tables, class_table=per_class)
    result.strata = stratum_keys(keys, aggregate_over)
    result.min_effect = min_effect
    result.domain_tables = domain_result[0]
    swept = [k for k in keys if k not in (*result.strata, *(select_over or []))]  # the method's settings, not the data
    if len(swept) >= 2:
        result.study = runs_study(groups, swept, metrics[0], modes[metrics[0]], run_value)
        result.importances = importances(result.study)
    if aggregate_over:  # over every value of the data keys, so that a method only meets the baseline on its data
        result.aggregate_over = ", ".join(result.strata)
        result.aggregates = {m: aggregate_table(methods(groups, result.strata, m), method_label(base, result.strata), modes[m])
                             for m in metrics}
    result.out = Path(out).expanduser() if out else (sources[0] / "report" if len(sources) == 1 else Path("report"))
    return result
