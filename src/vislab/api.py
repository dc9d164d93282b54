"""The Python API. The CLI calls these same functions.

    run = vislab.train("digits", **{"optim.lr": 3e-3})
    vislab.evaluate(run, split="test")

Training lives in training.py; what reads a finished run's checkpoint (evaluate, predict, ensemble, calibrate) in
inference.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from . import config as config_mod
from .errors import VislabError
from .inference import calibrate, ensemble, evaluate, predict, restore  # noqa: F401 (part of the API)
from .outputs import out_file
from .runs import default_runs_dir, ensure_dir
from .training import train  # noqa: F401 (part of the API)


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
) -> Any:
    """Compare the runs under ``dirs`` and write report.md, report.html and curve PNGs to ``out``.

    ``vislab.compare(["runs/sweeps/digits-..."], baseline=["optim.name=adam"])``; ``out`` defaults to
    ``<dir>/report`` for one directory and ./report for several. ``aggregate_over`` names the key whose values
    are tasks, datasets or domains (e.g. data.name): each of its values is compared on its own, and the report
    adds rliable's aggregates over them. ``table="domains"`` adds DomainBed's tables of leave-one-domain-out
    runs under three model-selection rules, choosing among the settings of the ``select_over`` keys (and
    aggregates over the test domains). Returns the ``Comparison`` (its tables, and ``files``: what was written).
    """
    from .experiments.compare.comparison import compare_runs  # here: scipy and optuna load on first use
    from .experiments.report.comparison import write_report

    if band not in ("std", "minmax"):
        raise VislabError(f"--band must be std or minmax, not '{band}'")
    result = compare_runs([dirs] if isinstance(dirs, (str, Path)) else dirs, baseline, metrics, out, min_effect,
                          aggregate_over, table, select_over)
    result.files = write_report(result, band)
    return result


def augment_preview(
    recipe: str | Path, out: str | Path = "augment.png", overrides: Optional[dict[str, Any]] = None, count: int = 16
) -> Path:
    """A PNG of ``count`` training samples as the training pipeline makes them, each beside its original."""
    out = out_file(out, "augment.png")
    if count < 1:
        raise VislabError(f"--count must be at least 1, not {count}")
    cfg = config_mod.resolve(recipe, overrides)
    from . import data  # after the checks: a mistake is answered without torch's import
    from .data.augment.preview import save_augment_grid

    return save_augment_grid(cfg, data.build(cfg.data, cfg.aug), out, count)


def data_check(
    recipe: str | Path | dict,
    overrides: Optional[dict[str, Any]] = None,
    out: Optional[str | Path] = None,
    runs_dir: Optional[str | Path] = None,
    progress: bool = True,
) -> Any:
    """Check the data of ``recipe`` (with dotted ``overrides``) as training reads it, split by split; write
    data_report.md/.html and galleries to ``out`` (default RUNS/data_checks/<recipe>-<data identity>/) and the
    record compare reads (RUNS/data_checks/<identity>.json). Returns a ``CheckedData``. Bad input raises
    VislabError before anything is written."""
    from .data.checks import check_data
    from .data.checks.images import need_imagehash
    from .data.files.identity import data_identity
    from .experiments.compare.data_records import record_path
    from .experiments.report.data_check import CheckedData, summary_lines, write_data_report, write_record
    from .progress import CountProgress

    need_imagehash()
    cfg = config_mod.resolve(recipe, overrides or {})
    if out is not None and Path(out).expanduser().is_file():
        raise VislabError(f"--out {out} is a file; name a folder for the report")
    with CountProgress("reading images", enabled=progress) as shown:
        check = check_data(cfg, shown)
    identity = data_identity(config_mod.to_dict(cfg)["data"], check.trained_files())
    runs = ensure_dir(Path(runs_dir).expanduser() if runs_dir else default_runs_dir())
    folder = Path(out).expanduser() if out is not None else runs / "data_checks" / f"{cfg.recipe}-{identity[:8]}"
    files = write_data_report(check, ensure_dir(folder, "report folder", "choose another with --out"), cfg.recipe, identity)
    record = record_path(runs, identity)
    ensure_dir(record.parent)
    write_record(check, record, identity, cfg.recipe, files[0])
    return CheckedData(check, identity, files, record, summary_lines(check, cfg.recipe))
