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
    metrics = evaluate(args.run_dir, split=args.split, checkpoint=args.checkpoint, overrides=overrides)
    width = max(len(k) for k in metrics)
    for k, v in metrics.items():
        print(f"{k:<{width}}  {_num(v)}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .api import predict

    _, overrides = split_items(args.items, recipe_expected=False)
    rows = predict(args.run_dir, args.inputs, out=args.out, checkpoint=args.checkpoint, overrides=overrides)
    for row in rows:
        print(f"{row['image']} -> " + ", ".join(v for k, v in row.items() if k != "image"))
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
        print(f"{name:<{width}}  {'present' if present else 'missing':<7}  {needs}")
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
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.set_defaults(func=cmd_eval)


def add_predict(sub: Any) -> None:
    p = sub.add_parser("predict", help="predict on images with a run's checkpoint",
                       description="vislab predict RUN_DIR IMAGE_OR_DIR... [--out DIR]")
    p.add_argument("run_dir")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    p.add_argument("--out", default=None, help="output folder (default RUN_DIR/predictions)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--set", dest="items", action="append", default=[], metavar="key=value",
                   help="config override, e.g. --set eval.sliding_window=[256,256] (repeatable)")
    p.set_defaults(func=cmd_predict)


def add_recipes(sub: Any) -> None:
    p = sub.add_parser("recipes", help="list recipes, or print one fully resolved with every key commented")
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_recipes)


def add_datasets(sub: Any) -> None:
    p = sub.add_parser("datasets", help="what each dataset needs on disk, and whether it is there")
    p.add_argument("--root", default=None, help="data root (default $VISLAB_DATA or ~/.cache/vislab/data)")
    p.set_defaults(func=cmd_datasets)


VERBS: list[Callable[[Any], None]] = [add_train, add_eval, add_predict, add_recipes, add_datasets]


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
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except VislabError as e:
        print(f"vislab: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("vislab: interrupted", file=sys.stderr)
        return 130
