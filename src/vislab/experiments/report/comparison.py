"""The comparison as text: report.md, a self-contained report.html (images inline), CSV and JSON, and
the curve PNGs (mean per group with a ±std or min-max band over seeds)."""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import io
import json
import math
import os
import textwrap
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np
from matplotlib.ticker import MaxNLocator

from ...atomic import atomic_write, atomic_write_text
from ...errors import VislabError
from ...viz import _figure
from ..compare.comparison import Comparison, Group, Row, baseline_first, method_label, run_value
from ..compare.domain_tables import cell_text
from ..compare.image_noise import ImageRow
from ..compare.importance import save_parallel_coordinates
from ..compare.per_class import ClassRow, ClassTable
from ..stats.bootstrap import RESAMPLES
from ..stats.sequential import MAX_NEEDED

METHOD = (
    "Each run counts with its best checkpoint: validation metrics at its best epoch (chosen on the same split, "
    "so slightly optimistic), test metrics of best.pt. Runs on different data (any data.* key but the sampler, "
    "in-memory, repeat and exclude settings: data.root, data.name, data.test_domain, data.split_seed, data.labeled_*, "
    "...) are never repeats of one another nor compared: each value of such a key has its own baseline, the baseline "
    "method's group on that data; runs that left other training images out (data.exclude) are compared, with a "
    "warning. The folds of a cross-validation (data.fold) count as a group's repeats, like seeds. 95% CI: Student t over the group's runs. "
    "Δ: group mean minus baseline mean, with a paired t-test over seeds when both groups ran exactly the same "
    "seeds, Welch's t-test otherwise; p-values are Holm-corrected across the groups of each table, and the "
    "verdict is taken at 0.05. A group of one run has no spread, so it gets no interval and no p-value; nor does "
    "a difference without spread (every seed moved by the same amount, or both groups constant), whose t-test "
    "would claim certainty: its verdict says it cannot tell. Metrics bounded in [0, 1] (accuracy, F1, ECE, IoU, "
    "mIoU, PQ, SQ, RQ) get their t intervals clipped to [0, 1], and their Δ intervals to [-1, 1]: an end at a bound "
    "is a clipped one, where the t interval reached past what the metric can be. "
    "Seeds needed: the seeds per group with which the same test (two-sided, 0.05, before Holm) would detect the "
    "observed Δ (or --min-effect) 80% of the time, given the observed spread (noncentral t). "
    "Over images: where the runs kept per-sample records (records/<split>.npz), the images are resampled with "
    "replacement (the same resamples for every run, and for the group and the baseline: a paired bootstrap); "
    "intervals are the 2.5 and 97.5 percentiles. 'noise dominated by' compares one run's spread over resampled "
    "images with the spread over seeds: the larger says whether more seeds or more test images would sharpen the result. "
    "Per class: each group's accuracy of each class's images (IoU per class, PQ per class) from the same records, "
    "its mean over the group's runs; the difference from the baseline is bootstrapped with the same paired "
    "resamples, its p-value is twice the smaller share of resampled differences on either side of 0, and the "
    "p-values are Holm-adjusted across the classes of each group. A class gained (lost) where its adjusted p-value "
    "is below 0.05; its interval is the percentile interval at Holm's level for its rank (1 - 0.05 / (classes - "
    "rank)), so a named class's interval leaves 0 out."
)


# ----------------------------------------------------------------------------------------------
# Curves
# ----------------------------------------------------------------------------------------------


LEGEND_WIDTH = 60  # characters per legend line


def curve_metrics(cmp: Comparison) -> list[str]:
    """The validation metrics of the tables, then val_loss."""
    names = [m for m in cmp.metrics if m.startswith("val_")]
    return names + ([] if "val_loss" in names else ["val_loss"])


def save_curves(cmp: Comparison, metric: str, path: Path, band: str) -> Path:
    """One line per group (its mean over runs at each epoch) with a shaded ±std or min-max band."""
    fig = _figure(7, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    colors = [f"C{i % 10}" for i in range(len(cmp.groups))]
    for group, color in zip(baseline_first(cmp.groups, cmp.baseline), colors):
        epochs, curves = group_curves(group, metric)
        if not epochs:
            continue
        mean, low, high = curve_band(curves, band)
        label = textwrap.fill(f"{group.label} (n={len(curves)})", LEGEND_WIDTH)
        ax.plot(epochs, mean, color=color, label=label, marker="o" if len(epochs) < 20 else None)
        ax.fill_between(epochs, low, high, color=color, alpha=0.2, linewidth=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: mean over seeds, band {'±1 std' if band == 'std' else 'min to max'}", fontsize=10)
    ax.grid(alpha=0.3)
    # Below the axes, so that long labels (wrapped) never cover the curves or run off the figure.
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2 if len(cmp.groups) > 3 else 1, frameon=False)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"))
    return path


def curve_band(curves: np.ndarray, band: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean [E] over runs of curves [runs, E], and the band's low and high [E]: ±1 std (none for one run) or min-max."""
    mean = np.nanmean(curves, axis=0)
    if band == "minmax":
        return mean, np.nanmin(curves, axis=0), np.nanmax(curves, axis=0)
    counts = np.sum(~np.isnan(curves), axis=0)
    with warnings.catch_warnings():  # epochs that only one run reached yet have no spread: no band there
        warnings.simplefilter("ignore", RuntimeWarning)
        std = np.where(counts > 1, np.nanstd(curves, axis=0, ddof=min(1, len(curves) - 1)), 0.0)
    return mean, mean - std, mean + std


def group_curves(group: Group, metric: str) -> tuple[list[int], np.ndarray]:
    """Epochs 1..E and a [runs, E] array of the metric (NaN where a run has no such epoch)."""
    histories = [[r for r in run.history if isinstance(r.get(metric), float)] for run in group.runs]
    histories = [h for h in histories if h]
    if not histories:
        return [], np.empty((0, 0))
    last = max(row["epoch"] for h in histories for row in h)
    curves = np.full((len(histories), last), np.nan)
    for i, h in enumerate(histories):
        for row in h:
            curves[i, row["epoch"] - 1] = row[metric]
    return list(range(1, last + 1)), curves


# ----------------------------------------------------------------------------------------------
# Document: blocks rendered as Markdown or HTML
# ----------------------------------------------------------------------------------------------

TABLE_HEADER = ["group", "n", "mean ± std", "95% CI", "best epoch", "wall s", "Δ vs baseline [95% CI]",
                "p (Holm-adjusted p)", "test", "verdict", "seeds needed"]


def table_header(cmp: Comparison) -> list[str]:
    return TABLE_HEADER + ([f"seeds needed for Δ = {cmp.min_effect:g}"] if cmp.min_effect is not None else [])


def _seeds(row: Row, n: Optional[int]) -> str:
    if row.test in ("", "none"):
        return "—"
    return str(n) if n is not None else f"> {MAX_NEEDED}"


def table_cells(row: Row, min_effect: Optional[float] = None) -> list[str]:
    """A Row as the report prints it."""
    spread = f"{row.mean:.4f} ± {row.std:.4f}" if row.n > 1 else f"{row.mean:.4f}"
    ci = f"[{row.ci_low:.4f}, {row.ci_high:.4f}]" if row.n > 1 else "—"
    if row.verdict == "baseline" or math.isnan(row.diff):
        delta, p, test = "—", "—", "—"
    else:
        delta = f"{row.diff:+.4f}" + (f" [{row.diff_low:+.4f}, {row.diff_high:+.4f}]" if row.test != "none" else "")
        p = f"{row.p:.3g} ({row.p_holm:.3g})" if row.test != "none" else "—"
        test = {"paired": f"paired t, {row.n} seeds", "welch": "Welch t", "none": "—"}[row.test]
    cells = [row.group, str(row.n), spread, ci, str(row.best_epoch) if row.best_epoch is not None else "—",
             _num(row.wall_s, 1), delta, p, test, row.verdict, _seeds(row, row.seeds_needed)]
    return cells + ([_seeds(row, row.seeds_min_effect)] if min_effect is not None else [])


def _num(x: float, digits: int) -> str:
    return "—" if math.isnan(x) else f"{x:.{digits}f}"


def _or_nan(x: Any) -> float:
    return math.nan if x is None else x


IMAGE_HEADER = ["group", "runs", "images", "mean [95% CI over images]", "std: images (one run)", "std: seeds",
                "noise dominated by", "Δ vs baseline, paired bootstrap [95% CI]"]


def image_cells(row: ImageRow) -> list[str]:
    """An ImageRow as the report prints it."""
    delta = "—" if math.isnan(row.diff) else f"{row.diff:+.4f} [{row.diff_low:+.4f}, {row.diff_high:+.4f}]"
    return [row.group, str(row.runs), str(row.images), f"{row.mean:.4f} [{row.low:.4f}, {row.high:.4f}]",
            _num(row.image_std, 4), _num(row.seed_std, 4), row.dominant or "—", delta]


def class_item(table: ClassTable, row: ClassRow, k: int) -> str:
    """'3 -0.4500 [-0.6000, -0.3000]': a class, its difference and its Holm-level interval."""
    return f"{table.classes[k]} {row.diff[k]:+.4f} [{row.low[k]:+.4f}, {row.high[k]:+.4f}]"


def class_sentences(table: ClassTable) -> list[str]:
    """A sentence per compared group naming the classes that gained and lost (the terminal's summary)."""
    out = []
    for row in table.rows:
        if not row.diff:
            continue
        said = [f"{verdict} {', '.join(class_item(table, row, k) for k in row.named(verdict))}"
                for verdict in ("gained", "lost") if row.named(verdict)]
        result = "; ".join(said) if said else "no class gained or lost detectably"
        out.append(f"{table.metric} per class, {row.group} against {row.baseline}: {result} (Holm-adjusted across classes, 0.05).")
    return out


def class_blocks(cmp: Comparison) -> list[tuple]:
    """The per-class table: a column of values per group, and a column of differences per compared group."""
    table = cmp.class_table
    if table is None:
        return []
    header = ["class"]
    for row in table.rows:
        header.append(row.group + (" (baseline)" if row.group == row.baseline else ""))
        if row.diff:
            header.append(f"Δ {row.group} [Holm-level CI]")
    cells = []
    for k, name in enumerate(table.classes):
        line = [name]
        for row in table.rows:
            line.append(_num(row.values[k], 4) if k < len(row.values) else "—")
            if row.diff:
                defined = k < len(row.diff) and not math.isnan(row.low[k])
                line.append(f"{row.diff[k]:+.4f} [{row.low[k]:+.4f}, {row.high[k]:+.4f}] {row.verdict[k]}".strip() if defined else "—")
        cells.append(line)
    out: list[tuple] = [("h2", f"{table.metric} per class ({RESAMPLES} paired resamples of the images)")]
    out += [("p", line) for line in class_sentences(table)]
    return out + [("table", header, cells)]


def save_class_plot(table: ClassTable, path: Path) -> Optional[Path]:
    """Each compared group's per-class differences from its baseline with their Holm-level intervals, one panel
    per group: gained classes green, lost red; None when no group is compared."""
    compared = [row for row in table.rows if row.diff]
    if not compared:
        return None
    k = len(table.classes)
    fig = _figure(7, 0.5 + (0.9 + 0.22 * k) * len(compared))
    colors = {"gained": "tab:green", "lost": "tab:red", "": "0.45"}
    for i, row in enumerate(compared):
        ax = fig.add_subplot(len(compared), 1, i + 1)
        for c in range(len(row.diff)):
            if math.isnan(row.diff[c]):
                continue
            err = [[row.diff[c] - row.low[c]], [row.high[c] - row.diff[c]]] if not math.isnan(row.low[c]) else None
            ax.errorbar(row.diff[c], c, xerr=err, fmt="o", color=colors[row.verdict[c]], capsize=3, markersize=4)
        ax.axvline(0, color="0.3", linewidth=0.8)
        ax.set_yticks(range(k), table.classes, fontsize=7)
        ax.set_ylim(k - 0.5, -0.5)
        ax.set_title(textwrap.shorten(f"{row.group} − {row.baseline}", 90), fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.axes[-1].set_xlabel(f"Δ {table.metric} per class (Holm-level interval; green gained, red lost)")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"))
    return path


def domain_blocks(cmp: Comparison) -> list[tuple]:
    """DomainBed's tables: a row per method, a column per test domain and Avg, one table per selection rule."""
    out: list[tuple] = []
    for t in cmp.domain_tables:
        out.append(("h2", f"Test-domain accuracy (%), model selection: {t.rule}"))
        header = ["method", *t.domains, "Avg"]
        out.append(("table", header, [[r.method, *(cell_text(r.cells[d]) for d in [*t.domains, "Avg"])] for r in t.rows]))
    if cmp.domain_tables:
        out.append(("p", DOMAIN_METHOD))
    return out


def table_blocks(cmp: Comparison) -> list[tuple]:
    """DomainBed's tables (with --table domains), then a heading and a table per metric, and the table over test
    images where the runs have records."""
    out: list[tuple] = domain_blocks(cmp)
    for metric in cmp.metrics:
        better = "higher" if cmp.modes[metric] == "max" else "lower"
        out.append(("h2", f"{metric} ({better} is better)"))
        out.append(("table", table_header(cmp), [table_cells(r, cmp.min_effect) for r in cmp.tables[metric]]))
        if metric in cmp.image_tables:
            out.append(("p", f"{metric} over the evaluated images (bootstrap, {RESAMPLES} resamples of the images):"))
            out.append(("table", IMAGE_HEADER, [image_cells(r) for r in cmp.image_tables[metric]]))
    return out + class_blocks(cmp)


DOMAIN_METHOD = (
    "Domain tables as DomainBed prints them (Gulrajani & Lopez-Paz, ICLR 2021; collect_results.py, model_selection.py): "
    "mean ± standard error over seeds (the standard deviation with ddof=0 over sqrt(n), as DomainBed's format_mean) "
    "of the held-out domain's accuracy, for the hyperparameters each rule picks per test domain and seed. As in "
    "DomainBed, the test domain's images are split once, 20% 'out' and 80% 'in' (a seeded draw over the per-image "
    "records of the test split): every rule reports the accuracy on the in part. Training-domain validation: the best "
    "accuracy on the training domains' validation split. Leave-one-domain-out: the best mean in-part accuracy on the "
    "other domains when each was held out (those runs trained on this test domain, where DomainBed's leave two domains "
    "out, so slightly optimistic). Oracle: the best accuracy on the out part of the test domain itself (an upper bound). "
    "Unlike DomainBed, every rule reads best.pt, the checkpoint chosen by training-domain validation, where "
    "DomainBed's oracle takes the last checkpoint and its other rules choose the step themselves. Avg: each seed's "
    "mean over domains, then mean ± standard error over the seeds that have every domain (DomainBed's averages table "
    "does the same; its per-dataset Avg is the mean of the domain means, without ±)."
)

AGGREGATE_METHOD = (
    "Aggregates as rliable computes them (Agarwal et al., NeurIPS 2021): IQM is the interquartile mean of all runs' "
    "values, mean and median are over the per-{key} means; the probability of improvement is, for a random value "
    "of {key}, the chance that a run of the method beats a run of the baseline (ties count half). Intervals: "
    "stratified bootstrap (runs resampled within each value of {key}), 95% percentile."
)


def aggregate_blocks(cmp: Comparison) -> list[tuple]:
    """A table per metric of rliable's aggregates over ``cmp.aggregate_over``, with the probability of improvement."""
    if not cmp.aggregates:
        return []
    out: list[tuple] = [("h2", f"Aggregates over {cmp.aggregate_over}")]
    header = ["method", "strata", "runs", "IQM [95% CI]", "mean [95% CI]", "median [95% CI]",
              "probability of improvement over the baseline [95% CI]"]
    for metric, rows in cmp.aggregates.items():
        cells = [[r.method, str(r.strata), str(r.runs), *(_estimate(r.aggregates[k]) for k in ("IQM", "mean", "median")),
                  _estimate(r.improvement) if r.improvement else "baseline"] for r in rows]
        out += [("p", f"{metric}:"), ("table", header, cells)]
    out.append(("p", AGGREGATE_METHOD.format(key=cmp.aggregate_over)))
    return out


def _estimate(e: Any) -> str:
    return f"{e.value:.4f} [{e.low:.4f}, {e.high:.4f}]"


def blocks(cmp: Comparison, images: list[Path], class_plot: Optional[Path] = None) -> list[tuple]:
    """The report as ("h1"|"h2"|"p", text), ("table", header, rows) and ("img", path) blocks."""
    n_runs = sum(len(g.runs) for g in cmp.groups)
    out: list[tuple] = [
        ("h1", f"Comparison of {n_runs} runs in {len(cmp.groups)} groups"),
        ("p", "Read from " + ", ".join(str(s) for s in cmp.sources) + "."),
        ("p", baseline_sentence(cmp)),
    ]
    out += [("p", line) for line in notes(cmp)]
    out += table_blocks(cmp)
    if class_plot is not None:
        out.append(("img", class_plot))
    out.append(("p", METHOD))
    out += aggregate_blocks(cmp)
    if cmp.importances:
        out.append(("h2", f"Which settings mattered for {cmp.metrics[0]}"))
        out.append(("table", ["key", "importance (fANOVA)"], [[k, f"{v:.3f}"] for k, v in cmp.importances.items()]))
        out.append(("p", "fANOVA (Hutter et al., ICML 2014; Optuna's evaluator): the share of the metric's variance over "
                         "the swept settings that each key explains on its own, from a random forest fitted to every run. "
                         "The parallel-coordinates plot below draws each run across the keys to its value."))
    if images:
        out.append(("h2", "Curves"))
        out.extend(("img", path) for path in images)
    out.append(("h2", "Runs"))
    rows = [
        [g.label, str(run.summary.get("seed")), *(_num(_or_nan(run_value(run, m)), 4) for m in cmp.metrics), os.path.relpath(run.dir, cmp.out)]
        for g in baseline_first(cmp.groups, cmp.baseline) for run in g.runs
    ]
    out.append(("table", ["group", "seed", *cmp.metrics, "run"], rows))
    return out


def baseline_sentence(cmp: Comparison) -> str:
    """What the groups differ in and what each is compared with."""
    if not cmp.keys:
        return "All runs share their settings apart from the seed."
    if not cmp.strata:
        return f"Groups differ in {', '.join(cmp.keys)}. Baseline: {cmp.baseline.label}."
    return (f"Groups differ in {', '.join(cmp.keys)}. Baseline: {method_label(cmp.baseline, cmp.strata)}, within each "
            f"value of {', '.join(cmp.strata)} (compared apart).")


def notes(cmp: Comparison) -> list[str]:
    """Runs left out and runs counted once, one sentence each: in the report and on the terminal."""
    out = []
    if cmp.skipped:
        listed = "; ".join(f"{p.name} ({status})" for p, status in cmp.skipped)
        out.append(f"Left out {len(cmp.skipped)} runs that did not complete: {listed}.")
    return out + cmp.notes


def render_markdown(items: list[tuple]) -> str:
    lines: list[str] = []
    for kind, *rest in items:
        if kind == "h1":
            lines += [f"# {rest[0]}", ""]
        elif kind == "h2":
            lines += [f"## {rest[0]}", ""]
        elif kind == "p":
            lines += [rest[0], ""]
        elif kind == "img":
            lines += [f"![{rest[0].stem}]({rest[0].name})", ""]
        else:
            header, rows = rest
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines)


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
    "th,td{border:1px solid #ccc;padding:0.3em 0.6em;text-align:left}th{background:#f3f3f3}"
    "img{max-width:100%;display:block;margin:1em 0}"
)


def render_html(items: list[tuple]) -> str:
    """One file with everything inline (CSS, PNGs as base64): it opens offline and can be mailed."""
    body: list[str] = []
    for kind, *rest in items:
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{html.escape(rest[0])}</{kind}>")
        elif kind == "img":
            data = base64.b64encode(rest[0].read_bytes()).decode()
            body.append(f'<img alt="{html.escape(rest[0].stem)}" src="data:image/png;base64,{data}">')
        else:
            header, rows = rest
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
    title = next((rest[0] for kind, *rest in items if kind == "h1"), "vislab comparison")
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


# ----------------------------------------------------------------------------------------------
# Machine-readable tables
# ----------------------------------------------------------------------------------------------


def records(cmp: Comparison, tables: str = "tables") -> list[dict[str, Any]]:
    """One dict per (metric, group) of ``cmp.tables`` (or ``cmp.image_tables``), numbers as numbers (None where
    there is none)."""
    out = []
    for metric, rows in getattr(cmp, tables).items():
        for row in rows:
            values = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in dataclasses.asdict(row).items()}
            out.append({"metric": metric, "mode": cmp.modes[metric], **values})
    return out


def without_nan(value: Any) -> Any:
    """``value`` (dicts, lists, numbers) with each NaN as None: JSON has no NaN."""
    if isinstance(value, dict):
        return {k: without_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nan(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def render_csv(cmp: Comparison) -> str:
    rows = records(cmp)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["metric"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def render_json(cmp: Comparison) -> str:
    doc = {
        "baseline": cmp.baseline.label,
        "keys": cmp.keys,
        "strata": cmp.strata,
        "groups": [{"label": g.label, "settings": g.settings, "runs": [str(r.dir) for r in g.runs]} for g in cmp.groups],
        "rows": records(cmp),
        "image_rows": records(cmp, "image_tables"),
        "per_class": without_nan(dataclasses.asdict(cmp.class_table)) if cmp.class_table is not None else None,
        "notes": cmp.notes,
        "skipped": [{"run": str(p), "status": s} for p, s in cmp.skipped],
    }
    return json.dumps(doc, indent=2, default=str) + "\n"


def render(cmp: Comparison, fmt: str) -> str:
    """The tables for stdout: md (the report's tables), csv or json."""
    if fmt == "csv":
        return render_csv(cmp)
    if fmt == "json":
        return render_json(cmp)
    if fmt == "md":
        return render_markdown(table_blocks(cmp))
    raise VislabError(f"--format must be md, csv or json, not '{fmt}'")


def write_report(cmp: Comparison, band: str) -> list[Path]:
    """Curve PNGs, report.md and report.html in ``cmp.out``; returns the files written."""
    out = cmp.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VislabError(f"cannot write the report to {out}: {e.strerror}; choose another --out") from None
    images = [save_curves(cmp, m, out / f"curve_{m}.png", band) for m in curve_metrics(cmp)]
    if cmp.study is not None:
        images.append(save_parallel_coordinates(cmp.study, cmp.metrics[0], out / f"parallel_{cmp.metrics[0]}.png"))
    class_plot = save_class_plot(cmp.class_table, out / "per_class.png") if cmp.class_table is not None else None
    items = blocks(cmp, images, class_plot)
    atomic_write_text(out / "report.md", render_markdown(items))
    atomic_write_text(out / "report.html", render_html(items))
    return [*images, *([class_plot] if class_plot else []), out / "report.md", out / "report.html"]
