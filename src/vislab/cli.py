"""The command line: one function per verb; each parses, calls the API, prints.

Exit codes: 0 success, 2 bad input (one line on stderr, no traceback), 1 a bug, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Optional

from .errors import VislabError


def split_items(items: list[str], recipe_expected: bool = True) -> tuple[Optional[str], dict[str, Any]]:
    """``['digits', 'optim.lr=1e-3']`` -> ``('digits', {'optim.lr': 0.001})``."""
    from .config import parse_override

    recipe = None
    if recipe_expected and items and "=" not in items[0]:
        recipe, items = items[0], items[1:]
    overrides: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise VislabError(f"'{item}' is not key=value; the recipe comes first (vislab train RECIPE key=value ...)")
        key, value = parse_override(item)
        overrides[key] = value
    return recipe, overrides


# ------------------------------------------------------------------------------------------------
# verbs
# ------------------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from .api import train

    recipe, overrides = split_items(args.items, recipe_expected=args.resume is None)
    if args.resume is not None and recipe is not None:
        raise VislabError("--resume continues a run with its own recipe; give only key=value overrides")
    run = train(recipe, resume=args.resume, runs_dir=args.runs_dir, name=args.name, overrides=overrides)
    summary = run.summary
    if summary.get("world_size", 1) > 1 and not _is_rank_zero():
        return 0
    print(f"run directory: {run.dir}")
    print(result_line(summary))
    return 0


def result_line(summary: dict[str, Any]) -> str:
    """'best val_acc 0.9861 at epoch 14; test_acc 0.9806'."""
    text = f"best {summary.get('best_metric')} {_num(summary.get('best_value'))} at epoch {summary.get('best_epoch')}"
    tests = {k: v for k, v in (summary.get("metrics") or {}).items() if k.startswith("test_") and k != "test_loss"}
    if tests:
        text += "; " + ", ".join(f"{k} {_num(v)}" for k, v in tests.items())
    return text


def _num(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _is_rank_zero() -> bool:
    import os

    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0) == 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .api import evaluate

    _, overrides = split_items(args.items, recipe_expected=False)
    metrics = evaluate(args.run_dir, split=args.split, checkpoint=args.checkpoint, overrides=overrides, weights=args.weights)
    width = max(len(k) for k in metrics)
    for k, v in metrics.items():
        print(f"{k:<{width}}  {_num(v)}")
    return 0


def cmd_recipes(args: argparse.Namespace) -> int:
    from .config import dump_commented, load_recipe, recipe_names, resolve

    if args.name:
        print(dump_commented(resolve(args.name)), end="")
        return 0
    names = recipe_names()
    width = max(len(n) for n in names)
    for name in names:
        print(f"{name:<{width}}  {load_recipe(name).get('description', '')}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from .data import data_root, status

    print(f"data root: {data_root(args.root)}")
    rows = status(args.root)
    width = max(len(r[0]) for r in rows)
    for name, needs, present in rows:
        state = "yours" if present is None else "present" if present else "missing"
        print(f"{name:<{width}}  {state:<7}  {needs}")
    return 0


def cmd_augment(args: argparse.Namespace) -> int:
    from .api import augment_preview

    recipe, overrides = split_items(args.items)
    if recipe is None:
        raise VislabError("name a recipe (vislab augment RECIPE [key=value ...] --out grid.png)")
    print(f"wrote {augment_preview(recipe, args.out, overrides, count=args.count)}")
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    from .api import ensemble

    result = ensemble(args.run_dirs, vote=args.vote, split=args.split, checkpoint=args.checkpoint)
    print(f"{result['split']} split, {result['size']} images")
    for member in result["members"]:
        print(f"  acc {member['acc']:.4f}  {member['run']}")
    print(f"  acc {result['ensemble']['acc']:.4f}  ensemble ({result['ensemble']['vote']} vote, {len(result['members'])} runs)")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .api import predict

    _, overrides = split_items(args.items, recipe_expected=False)
    options = {"topk": args.topk} if args.topk is not None else {}
    rows = predict(args.run_dir, args.inputs, out=args.out, checkpoint=args.checkpoint, overrides=overrides, **options)
    for row in rows:
        print(f"{row['file']}: {row['summary']}")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .experiments.space import parse_items
    from .experiments.sweep import summary_lines, sweep

    recipe = args.items[0] if args.items and "=" not in args.items[0] else None
    overrides, grid, ranges = parse_items(args.items[1:] if recipe else args.items)
    if recipe is None and (overrides or grid or ranges or args.seeds):
        raise VislabError("the recipe comes first: vislab sweep RECIPE key=v1,v2 ... (or only --resume --name NAME)")
    result = sweep(
        recipe, overrides, grid, ranges, seeds=args.seeds, search=args.search, trials=args.trials,
        workers=args.workers, gpus_per_trial=args.gpus_per_trial, storage=args.storage, name=args.name,
        resume=args.resume, runs_dir=args.runs_dir, prune=not args.no_prune,
    )
    print("\n".join(summary_lines(result)))
    return 0


def cmd_selftrain(args: argparse.Namespace) -> int:
    from .experiments.selftrain import selftrain

    recipe, overrides = split_items(args.items)
    if recipe is None:
        raise VislabError("name a recipe (vislab selftrain RECIPE --rounds R [key=value ...])")
    for run in selftrain(recipe, overrides, rounds=args.rounds, runs_dir=args.runs_dir, name=args.name):
        print(f"round {run.summary.get('selftrain_round')}: {run.dir}  {result_line(run.summary)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .experiments.compare import compare
    from .experiments.report import render

    result = compare(args.dirs, baseline=args.baseline, metrics=args.metric, out=args.out, band=args.band)
    print(render(result, args.format), end="")
    where = sys.stdout if args.format == "md" else sys.stderr  # keep csv and json output clean for pipes
    print(f"report: {result.out / 'report.md'}, {result.out / 'report.html'}", file=where)
    return 0


# ------------------------------------------------------------------------------------------------
# parser
# ------------------------------------------------------------------------------------------------


def add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="train a recipe", description="vislab train RECIPE [key=value ...]")
    p.add_argument("items", nargs="*", metavar="RECIPE key=value", help="recipe name or YAML path, then overrides")
    p.add_argument("--runs-dir", default=None, help="where runs go (default ./runs or $VISLAB_RUNS)")
    p.add_argument("--name", default=None, help="suffix of the run directory name")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run from last.pt")
    p.set_defaults(func=cmd_train)


def add_eval(sub: Any) -> None:
    p = sub.add_parser("eval", help="evaluate a run's checkpoint on a split")
    p.add_argument("run_dir")
    p.add_argument("items", nargs="*", metavar="key=value", help="overrides, e.g. data.root=...")
    p.add_argument("--split", default="val", choices=["train", "val", "test"])
    p.add_argument("--checkpoint", default="best", choices=["best", "last", "averaged"])
    p.add_argument("--weights", default="raw", choices=["raw", "ema"], help="the trained weights, or their EMA (train.ema)")
    p.set_defaults(func=cmd_eval)


def add_recipes(sub: Any) -> None:
    p = sub.add_parser("recipes", help="list recipes, or print one fully resolved with every key commented")
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_recipes)


def add_datasets(sub: Any) -> None:
    p = sub.add_parser("datasets", help="what each dataset needs on disk, and whether it is there")
    p.add_argument("--root", default=None, help="data root (default $VISLAB_DATA or ~/.cache/vislab/data)")
    p.set_defaults(func=cmd_datasets)


def add_augment(sub: Any) -> None:
    p = sub.add_parser("augment", help="save a grid of augmented training samples beside the originals")
    p.add_argument("items", nargs="+", metavar="RECIPE key=value", help="recipe name or YAML path, then overrides")
    p.add_argument("--out", default="augment.png", help="PNG to write (default augment.png)")
    p.add_argument("--count", type=int, default=16, help="samples shown (default 16)")
    p.set_defaults(func=cmd_augment)


def add_ensemble(sub: Any) -> None:
    p = sub.add_parser("ensemble", help="evaluate runs and their vote on a split they share")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--vote", default="soft", choices=["soft", "hard"], help="soft: mean probabilities; hard: majority")
    p.add_argument("--split", default="val", choices=["val", "test"])
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.set_defaults(func=cmd_ensemble)


def add_predict(sub: Any) -> None:
    p = sub.add_parser("predict", help="predict image files (or folders of them) with a run's checkpoint")
    p.add_argument("run_dir")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    p.add_argument("--out", default=None, help="where to write the predictions (classification: a CSV file; "
                   "segmentation: a folder of mask and overlay PNGs, default RUN_DIR/predictions)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--topk", type=int, default=None, help="classification: classes listed per image (default 5)")
    p.add_argument("--set", dest="items", action="append", default=[], metavar="key=value",
                   help="config override for inference, e.g. --set eval.sliding_window=[256,256] (repeatable)")
    p.set_defaults(func=cmd_predict)


def add_sweep(sub: Any) -> None:
    p = sub.add_parser(
        "sweep", help="train a grid (or a search) of settings over seeds, as an Optuna study of runs",
        description="vislab sweep RECIPE key=v1,v2,... [key=value ...]; ranges such as "
        "optim.lr=loguniform(1e-4,1e-2), uniform(a,b), int(a,b), choice(a,b) need --search tpe",
    )
    p.add_argument("items", nargs="*", metavar="RECIPE key=values", help="recipe, then key=v1,v2 (grid), key=value (fixed) or key=range(...)")
    p.add_argument("--seeds", type=int, default=None, metavar="N", help="repeat every grid point with train.seed=0..N-1")
    p.add_argument("--search", default="grid", choices=["grid", "tpe"], help="grid: every combination; tpe: Optuna's TPE sampler")
    p.add_argument("--trials", type=int, default=None, metavar="N", help="--search tpe: how many settings to try")
    p.add_argument("--no-prune", action="store_true", help="--search tpe: train every trial to the end (no median pruning)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="trials at once, each in its own process (CPU cores split)")
    p.add_argument("--gpus-per-trial", type=int, default=None, metavar="G", help="give each worker G GPUs of its own (CUDA_VISIBLE_DEVICES)")
    p.add_argument("--storage", default=None, metavar="URL", help="SQLAlchemy URL of the study (default: study.db in the sweep directory)")
    p.add_argument("--name", default=None, help="sweep name (default RECIPE-YYYYmmdd-HHMMSS); RUNS/sweeps/NAME/")
    p.add_argument("--resume", action="store_true", help="continue (or join) the sweep: run only what is missing or failed")
    p.add_argument("--runs-dir", default=None, help="where runs go (default ./runs or $VISLAB_RUNS)")
    p.set_defaults(func=cmd_sweep)


def add_selftrain(sub: Any) -> None:
    p = sub.add_parser("selftrain", help="Noisy Student: a teacher, then rounds of students each taught by the last",
                       description="vislab selftrain RECIPE --rounds R [key=value ...]")
    p.add_argument("items", nargs="+", metavar="RECIPE key=value", help="a recipe with semisup.method=noisy_student, then overrides")
    p.add_argument("--rounds", type=int, default=1, metavar="R", help="student rounds after the teacher (default 1)")
    p.add_argument("--runs-dir", default=None, help="where runs go (default ./runs or $VISLAB_RUNS)")
    p.add_argument("--name", default=None, help="run names are NAME-round0, NAME-round1, ... (default selftrain)")
    p.set_defaults(func=cmd_selftrain)


def add_compare(sub: Any) -> None:
    p = sub.add_parser("compare", help="group runs by their differing settings; tables, tests, curves and a report")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run directories, sweep directories, or folders of runs")
    p.add_argument("--baseline", action="append", default=None, metavar="KEY=VALUE", help="the group the others are compared with (repeat to narrow)")
    p.add_argument("--metric", action="append", default=None, metavar="NAME", help="metric to tabulate, e.g. val_acc or test_f1 (repeatable; default: the monitored one and its test_ twin)")
    p.add_argument("--out", default=None, metavar="DIR", help="report directory (default DIR/report for one DIR, else ./report)")
    p.add_argument("--format", default="md", choices=["md", "csv", "json"], help="how the tables are printed")
    p.add_argument("--band", default="std", choices=["std", "minmax"], help="curve band: ±1 std or min to max over seeds")
    p.set_defaults(func=cmd_compare)


VERBS: list[Callable[[Any], None]] = [
    add_train, add_eval, add_recipes, add_datasets, add_augment, add_ensemble, add_predict, add_sweep, add_compare,
    add_selftrain,
]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="vislab", description="Train, evaluate, sweep and compare computer-vision models."
    )
    parser.add_argument("--version", action="version", version=f"vislab {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for add in VERBS:
        add(sub)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    # key=value overrides may come after options (`vislab train digits --name x optim.lr=1e-3`), which
    # argparse's positional list does not take; give such leftovers to the verb's item list.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "items") and not any(e.startswith("-") for e in extra):
            args.items = [*args.items, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args) or 0
    except VislabError as e:
        print(f"vislab: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        print(f"vislab: interrupted{f'; {e}' if str(e) else ''}", file=sys.stderr)
        return 130
