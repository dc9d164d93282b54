"""The command line: one function per verb; each parses, calls the API, prints.

Exit codes: 0 success, 2 bad input (one line on stderr, no traceback), 1 a bug, 130 interrupted.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from .errors import VislabError


def split_items(
    items: list[str], recipe_expected: bool = True, usage: str = "the recipe comes first (vislab train RECIPE key=value ...)",
) -> tuple[Optional[str], dict[str, Any]]:
    """``['digits', 'optim.lr=1e-3']`` -> ``('digits', {'optim.lr': 0.001})``; ``usage`` says how the verb takes them."""
    from .config import parse_override

    recipe = None
    if recipe_expected and items and "=" not in items[0]:
        recipe, items = items[0], items[1:]
    overrides: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise VislabError(f"'{item}' is not key=value; {usage}")
        key, value = parse_override(item)
        overrides[key] = value
    return recipe, overrides


# ------------------------------------------------------------------------------------------------
# verbs
# ------------------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from .api import train
    from .runs import is_first_process

    recipe, overrides = split_items(args.items, recipe_expected=args.resume is None)
    if args.resume is not None and recipe is not None:
        raise VislabError("--resume continues a run with its own recipe; give only key=value overrides")
    run = train(recipe, resume=args.resume, runs_dir=args.runs_dir, name=args.name, overrides=overrides)
    summary = run.summary
    if summary.get("world_size", 1) > 1 and not is_first_process():
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


def cmd_eval(args: argparse.Namespace) -> int:
    from .export.options import check_exported

    check_exported(args.exported, args.checkpoint, args.weights)  # before torch is imported
    from .api import evaluate
    from .inference import MetricsNotSaved

    _, overrides = split_items([*args.items, *args.set], recipe_expected=False,
                               usage="overrides follow the run (vislab eval RUN_DIR key=value ...)")
    note_set(args, "RUN_DIR")
    try:
        metrics = evaluate(args.run_dir, split=args.split, checkpoint=args.checkpoint, overrides=overrides, out=args.out,
                           exported=args.exported, weights=args.weights,
                           export_panoptic=args.export_panoptic)
    except MetricsNotSaved as e:
        print_metrics(e.metrics)  # measured all the same: show them before saying what was not written
        raise
    print_metrics(metrics)
    if args.export_panoptic:
        print(f"wrote {args.export_panoptic}: predictions.json and predictions/, ground_truth.json and ground_truth/ "
              "(COCO panoptic format)")
    return 0


def note_set(args: argparse.Namespace, before: str) -> None:
    """Overrides given the old way, ``--set key=value``, are taken with a note on stderr saying the one way
    (key=value after ``before``)."""
    if args.set:
        print(f"vislab: --set is deprecated; give overrides as key=value: vislab {args.verb} {before} {' '.join(args.set)}",
              file=sys.stderr)


def print_metrics(metrics: dict[str, Any]) -> None:
    width = max(len(k) for k in metrics)
    for k, v in metrics.items():
        print(f"{k:<{width}}  {_num(v)}")


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

    recipe, overrides = split_items(args.items, usage="the recipe comes first (vislab augment RECIPE key=value ... --out grid.png)")
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


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .api import calibrate

    c = calibrate(args.run_dir, split=args.split, checkpoint=args.checkpoint)
    print(f"temperature {c.temperature:.4f} fitted on the {c.split} split ({c.samples} images, {c.checkpoint}.pt)")
    print(f"  NLL {c.nll_before:.4f} -> {c.nll_after:.4f}, ECE {c.ece_before:.4f} -> {c.ece_after:.4f}")
    print(f"wrote {args.run_dir.rstrip('/')}/calibration.json (predict and ensemble use it)")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .export.options import check_exported

    check_exported(args.exported, args.checkpoint)  # before torch is imported
    from .api import predict

    inputs, items = overrides_apart([*args.inputs, *args.items])
    _, overrides = split_items([*items, *args.set], recipe_expected=False, usage=PREDICT_USAGE)
    note_set(args, "RUN_DIR IMAGES")
    if not inputs:
        raise VislabError(f"name the images to predict; {PREDICT_USAGE}")
    options = {"topk": args.topk} if args.topk is not None else {}
    rows = predict(args.run_dir, inputs, out=args.out, checkpoint=args.checkpoint, overrides=overrides,
                   exported=args.exported, **options)
    for row in rows:
        print(f"{row['file']}: {row['summary']}")
    if args.out:
        print(f"wrote {args.out}")
    return 0


PREDICT_USAGE = "image files or folders, then key=value overrides (vislab predict RUN_DIR IMAGES key=value ...)"
_OVERRIDE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+=")  # every config key is section.key


def overrides_apart(items: list[str]) -> tuple[list[str], list[str]]:
    """(image paths, key=value overrides) of predict's positional items: an item that starts as a dotted config
    key and a '=', and names no existing file, is an override (a file may be called a=b.png)."""
    inputs, overrides = [], []
    for item in items:
        is_override = _OVERRIDE.match(item) is not None and not Path(item).expanduser().exists()
        (overrides if is_override else inputs).append(item)
    return inputs, overrides


def cmd_sweep(args: argparse.Namespace) -> int:
    from .config import parse_override
    from .experiments.sweep.space import parse_items
    from .experiments.sweep.driver import sweep
    from .experiments.sweep.summary import failed_logs, summary_lines

    recipe = args.items[0] if args.items and "=" not in args.items[0] else None
    overrides, grid, ranges = parse_items(args.items[1:] if recipe else args.items)
    if recipe is None and (overrides or grid or ranges or args.seeds):
        raise VislabError("the recipe comes first: vislab sweep RECIPE key=v1,v2 ... (or only --resume --name NAME)")
    result = sweep(
        recipe, overrides, grid, ranges, seeds=seeds_arg(args.seeds), search=args.search, trials=args.trials,
        max_seeds=args.max_seeds, min_effect=args.min_effect,
        baseline=dict(parse_override(b) for b in args.baseline) if args.baseline else None,
        workers=args.workers, gpus_per_trial=args.gpus_per_trial, storage=args.storage, name=args.name,
        resume=args.resume, runs_dir=args.runs_dir, prune=not args.no_prune,
    )
    print("\n".join(summary_lines(result)))
    logs = failed_logs(result)
    if logs:  # a sweep whose trials failed did not succeed, whatever the others did
        print(f"vislab: {len(logs)} of {result.spec.trials} trials failed; their logs: {', '.join(map(str, logs))}", file=sys.stderr)
        return 1
    return 0


def cmd_crossval(args: argparse.Namespace) -> int:
    from .experiments.crossval import crossval
    from .experiments.sweep.summary import failed_logs, summary_lines

    recipe, overrides = split_items(args.items, usage="the recipe comes first (vislab crossval RECIPE --folds K key=value ...)")
    done, oof = crossval(recipe, overrides, folds=args.folds, seeds=seeds_arg(args.seeds), name=args.name,
                         resume=args.resume, runs_dir=args.runs_dir, workers=args.workers)
    print("\n".join(summary_lines(done)))
    if oof is None:
        logs = failed_logs(done)
        print(f"vislab: {len(logs)} fold runs failed; their logs: {', '.join(map(str, logs))}", file=sys.stderr)
        return 1
    print(f"out-of-fold predictions: {oof}  (vislab data issues {done.dir})")
    return 0


def cmd_data_issues(args: argparse.Namespace) -> int:
    from .experiments.label_issues import label_issues

    found = label_issues(args.sweep, out=args.out, gallery=args.gallery)
    print(f"{found.flagged} of {found.total} training images have a label issue (cleanlab, out-of-fold predictions)")
    print(f"ranked: {found.csv}")
    print(f"suspects: {found.suspects}  (train without them: data.exclude={found.suspects})")
    if found.gallery is not None:
        print(f"gallery: {found.gallery}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from .runs import default_runs_dir, recent_runs

    if args.last < 1:
        raise VislabError(f"--last N lists the N most recent runs; N must be at least 1, not {args.last}")
    root = Path(args.runs_dir).expanduser() if args.runs_dir else default_runs_dir()
    rows = recent_runs(root, args.last)
    if not rows:
        print(f"no runs under {root}", file=sys.stderr)
        return 0
    for row in rows:
        print(f"{row['status']:<11}  {row['epochs']:>7}  {row['best']:<18}  {row['dir']}")
    return 0


def seeds_arg(text: Optional[str]) -> Optional[int | str]:
    """--seeds: a number of seeds, or 'auto'."""
    if text is None or text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise VislabError(f"--seeds takes a number or auto, not '{text}'") from None


def cmd_selftrain(args: argparse.Namespace) -> int:
    from .experiments.selftrain import selftrain

    recipe, overrides = split_items(args.items)
    if recipe is None:
        raise VislabError("name a recipe (vislab selftrain RECIPE --rounds R [key=value ...])")
    for run in selftrain(recipe, overrides, rounds=args.rounds, runs_dir=args.runs_dir, name=args.name):
        print(f"round {run.summary.get('selftrain_round')}: {run.dir}  {result_line(run.summary)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .api import compare
    from .experiments.report.comparison import notes, render

    result = compare(args.dirs, baseline=args.baseline, metrics=args.metric, out=args.out, band=args.band,
                     min_effect=args.min_effect, aggregate_over=args.aggregate_over, table=args.table,
                     select_over=args.select_over)
    print(render(result, args.format), end="")
    where = sys.stdout if args.format == "md" else sys.stderr  # keep csv and json output clean for pipes
    for line in notes(result):
        print(line, file=where)
    print(f"report: {result.out / 'report.md'}, {result.out / 'report.html'}", file=where)
    return 0


def cmd_board(args: argparse.Namespace) -> int:
    from .experiments.report.board import make_server
    from .runs import default_runs_dir

    server = make_server(args.runs_dir or default_runs_dir(), args.port)
    host, port = server.server_address[:2]
    print(f"vislab board: http://{host}:{port}/ (read-only; Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export.options import check_options

    check_options(args.format, args.out, args.opset)  # before torch is imported
    from .export.export import export_run

    report = export_run(args.run_dir, args.format, checkpoint=args.checkpoint, out=args.out,
                        dynamic_batch=args.dynamic_batch, opset=args.opset, half=args.half, weights=args.weights)
    print(f"wrote {report['file']}")
    print(f"check on {report['sample']}: max abs difference {report['max_abs_diff']:.2e}, "
          f"agreement {report['agreement']:.4f}" + (
              f", {report['metric']} {report['pytorch']:.4f} (PyTorch) vs {report['exported']:.4f} (exported)"
              if report["pytorch"] is not None else ""))
    print(f"report: {report['report']}")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from .export.options import check_profile_batch

    check_profile_batch(args.batch)  # before torch is imported
    _, overrides = split_items(args.items, recipe_expected=False,
                               usage="overrides follow the run or recipe (vislab profile RUN_DIR|RECIPE key=value ...)")
    from .export.profile import profile, render_profile

    result = profile(args.target, checkpoint=args.checkpoint, batch=args.batch, exported=not args.eager_only,
                     overrides=overrides)
    print(render_profile(result, args.format), end="")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from .explain import check, check_table, explain

    options = dict(methods=args.method or ["gradcam"], target=args.target, checkpoint=args.checkpoint, layer=args.layer,
                   head=args.head, out=args.out, split=args.split, count=args.count)
    if args.check:
        print(check_table(check(args.run_dir, args.inputs, **options)))
        return 0
    rows = explain(args.run_dir, args.inputs, **options)
    for row in rows:
        print(f"{row['overlay']}: {row['summary']}")
    return 0


def cmd_lr_find(args: argparse.Namespace) -> int:
    from .threads import prepare_process

    prepare_process()  # before torch is imported, as for training: the range test trains
    from .lr_find import lr_find

    recipe, overrides = split_items(args.items, usage="the recipe comes first (vislab lr-find RECIPE key=value ...)")
    if recipe is None:
        raise VislabError("name a recipe to test (`vislab recipes` lists them): vislab lr-find RECIPE [key=value ...]")
    finding = lr_find(recipe, overrides, min_lr=args.min, max_lr=args.max, steps=args.steps, out=args.out)
    print(f"{len(finding.rates)} steps from {finding.rates[0]:.2g} to {finding.rates[-1]:.2g}; curve in {finding.csv} and {finding.png}")
    if finding.steepest is not None:
        print(f"steepest descent of the smoothed loss: optim.lr={finding.steepest:.2g}")
    print(f"minimum of the smoothed loss / 10:      optim.lr={finding.minimum_tenth:.2g}")
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    from .api import data_check

    usage = "vislab data check RECIPE [key=value ...] [--out DIR] [--strict]"
    recipe, overrides = split_items(args.items, usage=f"the recipe comes first ({usage})")
    if recipe is None:
        raise VislabError(f"name a recipe whose data to check (`vislab recipes` lists them): {usage}")
    result = data_check(recipe, overrides, out=args.out, runs_dir=args.runs_dir)
    print("\n".join(result.summary))
    print(f"report: {result.files[0]}, {result.files[1]}")
    if args.strict and result.failed_strict:
        print(f"vislab: --strict: {len(result.check.leaks)} leaks across splits, {len(result.check.invalid_masks)} "
              "masks training would misread", file=sys.stderr)
        return 1
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
    add_deprecated_set(p)
    p.add_argument("--split", default="val", choices=["train", "val", "test"])
    add_checkpoint(p)
    p.add_argument("--exported", default=None, metavar="PATH", help="evaluate this exported file of the run "
                   "(vislab export) with ONNX Runtime or TorchScript instead of its checkpoint")
    p.add_argument("--out", default=None, metavar="FILE.json", help="where the metrics go (default RUN_DIR/eval_<split>_<checkpoint>.json)")
    add_weights(p)
    p.add_argument("--export-panoptic", default=None, metavar="DIR",
                   help="panoptic runs: also write predictions and ground truth of the split in COCO panoptic format")
    p.set_defaults(func=cmd_eval)


def add_deprecated_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="key=value",
                   help="deprecated: give overrides as key=value (positional), the one way every verb takes them")


def add_checkpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default="best", metavar="NAME",
                   help="checkpoints/NAME.pt of the run: best (default), last, ema, averaged")


def add_weights(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default="raw", choices=["raw", "ema"], help="the checkpoint's trained weights (raw), "
                   "or their exponential moving average (ema; runs with train.ema)")


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
    add_checkpoint(p)
    p.set_defaults(func=cmd_ensemble)


def add_calibrate(sub: Any) -> None:
    p = sub.add_parser("calibrate", help="fit a temperature to a classification run's probabilities, stored with the run")
    p.add_argument("run_dir")
    p.add_argument("--split", default="val", choices=["train", "val", "test"], help="split it is fitted on (default val)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.set_defaults(func=cmd_calibrate)


def add_predict(sub: Any) -> None:
    p = sub.add_parser("predict", help="predict image files (or folders of them) with a run's checkpoint")
    p.add_argument("run_dir")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR key=value",
                   help="image files or folders of them, then config overrides for inference, e.g. eval.tta.flip=true")
    p.add_argument("--out", default=None, help="where to write the predictions (classification: a CSV file; "
                   "segmentation: a folder of mask and overlay PNGs, default RUN_DIR/predictions)")
    add_checkpoint(p)
    p.add_argument("--exported", default=None, metavar="PATH", help="predict with this exported file of the run")
    p.add_argument("--topk", type=int, default=None, help="classification: classes listed per image (default 5)")
    add_deprecated_set(p)
    p.set_defaults(func=cmd_predict, items=[])


def add_sweep(sub: Any) -> None:
    p = sub.add_parser(
        "sweep", help="train a grid (or a search) of settings over seeds, as an Optuna study of runs",
        description="vislab sweep RECIPE key=v1,v2,... [key=value ...]; ranges such as "
        "optim.lr=loguniform(1e-4,1e-2), uniform(a,b), int(a,b), choice(a,b) need --search tpe",
    )
    p.add_argument("items", nargs="*", metavar="RECIPE key=values", help="recipe, then key=v1,v2 (grid), key=value (fixed) or key=range(...)")
    p.add_argument("--seeds", default=None, metavar="N|auto", help="repeat every grid point with train.seed=0..N-1; "
                   "auto: add seeds in rounds until each comparison with the baseline is decided (needs --max-seeds)")
    p.add_argument("--max-seeds", type=int, default=None, metavar="N", help="--seeds auto: the most seeds a grid point gets")
    p.add_argument("--baseline", action="append", default=None, metavar="KEY=VALUE",
                   help="--seeds auto: the grid point the others are compared with (default: each key's first value)")
    p.add_argument("--min-effect", type=float, default=None, metavar="D",
                   help="--seeds auto: also stop a comparison whose interval lies within ±D (no difference that large)")
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


def add_crossval(sub: Any) -> None:
    p = sub.add_parser("crossval", help="K runs on folds of the training data (class-stratified; plain for segmentation), "
                       "and every training image's out-of-fold class probabilities (segmentation: per pixel, on a 32x32 grid)",
                       description="vislab crossval RECIPE --folds K [--seeds N] [key=value ...]")
    p.add_argument("items", nargs="*", metavar="RECIPE key=value", help="recipe name or YAML path, then fixed overrides")
    p.add_argument("--folds", type=int, default=None, metavar="K", help="folds of the training split (the test split stays fixed)")
    p.add_argument("--seeds", default=None, metavar="N", help="repeat every fold with train.seed=0..N-1 (probabilities averaged)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="folds at once, each in its own process (CPU cores split)")
    p.add_argument("--name", default=None, help="sweep name (default RECIPE-YYYYmmdd-HHMMSS); RUNS/sweeps/NAME/")
    p.add_argument("--resume", action="store_true", help="continue the cross-validation after a kill: only the folds left (the same command, or only --name NAME)")
    p.add_argument("--runs-dir", default=None, help="where runs go (default ./runs or $VISLAB_RUNS)")
    p.set_defaults(func=cmd_crossval)


def add_runs(sub: Any) -> None:
    p = sub.add_parser("runs", help="recent runs with their status, epochs and best value (newest first)")
    p.add_argument("--runs-dir", default=None, help="where runs go (default ./runs or $VISLAB_RUNS)")
    p.add_argument("--last", type=int, default=20, metavar="N", help="how many to list (default 20)")
    p.set_defaults(func=cmd_runs)


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
    p.add_argument("--metric", action="append", default=None, metavar="NAME", help="metric to tabulate, e.g. val_acc, test_macro_f1 or test_balanced_acc (repeatable; default: the monitored one and its test_ twin)")
    p.add_argument("--out", default=None, metavar="DIR", help="report directory (default DIR/report for one DIR, else ./report)")
    p.add_argument("--format", default="md", choices=["md", "csv", "json"], help="how the tables are printed")
    p.add_argument("--band", default="std", choices=["std", "minmax"], help="curve band: ±1 std or min to max over seeds")
    p.add_argument("--min-effect", type=float, default=None, metavar="D",
                   help="smallest difference that matters: the report adds the seeds needed to detect it at 80%% power")
    p.add_argument("--aggregate-over", default=None, metavar="KEY", help="key whose values are datasets or domains "
                   "(e.g. data.name): compare within each, and add IQM, mean, median and probability of improvement over them")
    p.add_argument("--table", default="groups", choices=["groups", "domains"], help="domains: DomainBed's tables of "
                   "leave-one-domain-out runs (a column per data.test_domain) under three model-selection rules")
    p.add_argument("--select-over", action="append", default=None, metavar="KEY",
                   help="--table domains: a hyperparameter the selection rules choose (repeatable), e.g. optim.lr")
    p.set_defaults(func=cmd_compare)


def add_board(sub: Any) -> None:
    p = sub.add_parser("board", help="a local read-only dashboard of runs and sweeps, updated live")
    p.add_argument("runs_dir", nargs="?", default=None, metavar="RUNS_DIR", help="default ./runs or $VISLAB_RUNS")
    p.add_argument("--port", type=int, default=6006, help="port on 127.0.0.1 (default 6006; 0: any free port)")
    p.set_defaults(func=cmd_board)


def add_export(sub: Any) -> None:
    from .export.options import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET

    p = sub.add_parser("export", help="write a run's model as ONNX or TorchScript, checked against PyTorch")
    p.add_argument("run_dir")
    p.add_argument("--format", default="onnx", choices=["onnx", "torchscript"])
    add_checkpoint(p)
    p.add_argument("--out", default=None, metavar="PATH", help="file to write (default RUN_DIR/export/CHECKPOINT.onnx "
                   "or .torchscript); its check goes to export.json beside it")
    p.add_argument("--dynamic-batch", action="store_true", help="any batch size (default: batches of 1)")
    add_weights(p)
    p.add_argument("--opset", type=int, default=None, metavar="N",
                   help=f"ONNX opset, {MIN_OPSET} to {MAX_OPSET} (default {DEFAULT_OPSET})")
    p.add_argument("--half", action="store_true", help="float16 weights and inputs")
    p.set_defaults(func=cmd_export)


def add_profile(sub: Any) -> None:
    p = sub.add_parser("profile", help="parameters, FLOPs, activation memory, latency and throughput of a model")
    p.add_argument("target", metavar="RUN_DIR|RECIPE")
    p.add_argument("items", nargs="*", metavar="key=value", help="overrides, e.g. data.image_size=[512,512] or aug.resize=[64,64]")
    add_checkpoint(p)
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="the larger batch timed beside batch 1 (default train.eval_batch_size or train.batch_size)")
    p.add_argument("--eager-only", action="store_true", help="skip the exported (ONNX Runtime) timings")
    p.add_argument("--format", default="text", choices=["text", "json"])
    p.set_defaults(func=cmd_profile)


def add_explain(sub: Any) -> None:
    from .cam import METHODS

    p = sub.add_parser("explain", help="class-activation maps of a run's model laid over images (pytorch-grad-cam)",
                       description="vislab explain RUN_DIR [IMAGE_OR_DIR ...] [--split test --count N] [--method M ...]")
    p.add_argument("run_dir")
    p.add_argument("inputs", nargs="*", metavar="IMAGE_OR_DIR")
    p.add_argument("--split", default=None, choices=["train", "val", "test"], help="explain the first --count images of "
                   "the run's own split instead of files (their labels make --target true possible)")
    p.add_argument("--count", type=int, default=8, metavar="N", help="--split: how many images (default 8)")
    p.add_argument("--method", action="append", default=None, metavar="NAME",
                   help=f"repeatable: {', '.join(METHODS)} (default gradcam)")
    p.add_argument("--target", default="predicted", metavar="predicted|true|CLASS",
                   help="the class each map explains: the prediction (default), the label (with --split), or a class name or number")
    add_checkpoint(p)
    p.add_argument("--layer", default=None, metavar="NAME", help="the module maps read (default: the one the model declares)")
    p.add_argument("--head", default="class", choices=["class", "domain"], help="domain: the domain head of a "
                   "domain-generalization run (model.domain_head=true)")
    p.add_argument("--out", default=None, metavar="DIR", help="folder of the overlays (default RUN_DIR/explain)")
    p.add_argument("--check", action="store_true", help="instead of overlays, whether each method's maps can be trusted: "
                   "faithfulness (ROAD deletion against a random map) and the model-randomization sanity check; "
                   "written to OUT/check.json")
    p.set_defaults(func=cmd_explain)


def add_lr_find(sub: Any) -> None:
    p = sub.add_parser("lr-find", help="the learning-rate range test on a recipe: loss against rate, a suggested optim.lr",
                       description="vislab lr-find RECIPE [key=value ...] [--min LR --max LR --steps N]")
    p.add_argument("items", nargs="*", metavar="RECIPE key=value", help="recipe name or YAML path, then overrides")
    p.add_argument("--min", type=float, default=1e-7, metavar="LR", help="first rate (default 1e-7)")
    p.add_argument("--max", type=float, default=10.0, metavar="LR", help="last rate (default 10)")
    p.add_argument("--steps", type=int, default=100, metavar="N", help="training steps, the rate growing exponentially (default 100)")
    p.add_argument("--out", default=".", metavar="DIR", help="folder of lr_find.csv and lr_find.png (default: here)")
    p.set_defaults(func=cmd_lr_find)


def add_data_check(sub: Any) -> None:
    p = sub.add_parser("check", help="class balance, image sizes and quality, duplicates and leaks across splits, masks",
                       description="vislab data check RECIPE [key=value ...] [--out DIR] [--strict]")
    p.add_argument("items", nargs="*", metavar="RECIPE key=value", help="recipe name or YAML path, then data.* overrides")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="report folder (default RUNS/data_checks/<recipe>-<data identity>)")
    p.add_argument("--strict", action="store_true", help="exit 1 when images leak across splits or a mask is invalid (for CI)")
    p.add_argument("--runs-dir", default=None, help="where runs go (default ./runs or $VISLAB_RUNS); compare finds the check there")
    p.set_defaults(func=cmd_data_check)


def add_data_issues(sub: Any) -> None:
    p = sub.add_parser("issues", help="label issues in a crossval sweep's out-of-fold predictions (cleanlab; "
                       "cleanlab.segmentation for per-pixel work)",
                       description="vislab data issues SWEEP [--out DIR] [--gallery N]")
    p.add_argument("sweep", metavar="SWEEP", help="the sweep directory of vislab crossval")
    p.add_argument("--out", default=None, metavar="DIR", help="where label_issues.csv, suspects.txt and "
                   "suspects.png go (default SWEEP/issues)")
    p.add_argument("--gallery", type=int, default=32, metavar="N", help="top suspects shown in suspects.png (default 32)")
    p.set_defaults(func=cmd_data_issues)


DATA_VERBS: list[Callable[[Any], None]] = [add_data_check, add_data_issues]  # `vislab data SUBVERB`


def add_data(sub: Any) -> None:
    p = sub.add_parser("data", help="look at a dataset: its splits, images and masks (check), its labels after a crossval (issues)")
    data_sub = p.add_subparsers(dest="data_verb", required=True, metavar="SUBVERB")
    for add in DATA_VERBS:
        add(data_sub)


VERBS: list[Callable[[Any], None]] = [
    add_train, add_eval, add_recipes, add_datasets, add_augment, add_ensemble, add_calibrate, add_predict, add_sweep, add_compare,
    add_crossval,
    add_board,
    add_export, add_profile,
    add_runs, add_selftrain,
    add_explain, add_lr_find, add_data,
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


def unknown_verb(argv: list[str]) -> Optional[str]:
    """The message for a misspelt verb (`vislab trian`), with the closest ones; None when the verb is known."""
    import difflib

    verbs = [add.__name__.removeprefix("add_").replace("_", "-") for add in VERBS]
    if not argv or argv[0].startswith("-") or argv[0] in verbs:
        return None
    close = difflib.get_close_matches(argv[0], verbs, n=2, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return f"unknown verb '{argv[0]}'; {hint}verbs are {', '.join(verbs)}"


# The verbs that run models: on a busy machine their threads wait without spinning (vislab.threads), which has
# to be settled before torch is imported; their thread count is planned where their model runs.
RUNS_MODELS = ("train", "sweep", "crossval", "selftrain", "eval", "predict", "export", "profile", "calibrate", "ensemble")


def main(argv: Optional[list[str]] = None) -> int:
    """Run one verb; exit code 0, 2 for bad input (one line on stderr), 130 interrupted, 1 a bug (traceback)."""
    stdout = sys.stdout
    if stdout is None:  # started with stdout closed: print writes nothing, there is nothing to check
        return run_verb(argv)
    sys.stdout = CheckedOutput(stdout)
    try:
        code = run_verb(argv)
        sys.stdout.flush()  # a full disk shows here, not in Python's own flush at exit (a traceback there)
        return code
    except OutputFailed as e:
        return output_failed(e.error)
    finally:
        sys.stdout = stdout


def run_verb(argv: Optional[list[str]]) -> int:
    parser = build_parser()
    wrong = unknown_verb(sys.argv[1:] if argv is None else argv)
    if wrong is not None:
        print(f"vislab: error: {wrong}", file=sys.stderr)
        return 2
    # key=value overrides may come after options (`vislab train digits --name x optim.lr=1e-3`), which
    # argparse's positional list does not take; give such leftovers to the verb's item list.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "items") and not any(e.startswith("-") for e in extra):
            args.items = [*args.items, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.verb in RUNS_MODELS:
        from .threads import prepare_process

        prepare_process()
    try:
        return args.func(args) or 0
    except VislabError as e:
        print(f"vislab: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        print(f"vislab: interrupted{f'; {e}' if str(e) else ''}", file=sys.stderr)
        return 130


class OutputFailed(Exception):
    """Writing to stdout failed; ``error`` is why (a full disk, a reader that went away)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class CheckedOutput:
    """sys.stdout whose write errors raise OutputFailed, told apart from the OSErrors of everything else."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as e:
            raise OutputFailed(e) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as e:
            raise OutputFailed(e) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def output_failed(error: OSError) -> int:
    """Our output could not be written. A reader that stopped (`vislab recipes | head -3`) ends us quietly, as
    a shell tool would (SIGPIPE's status); anything else (`> /dev/full`) is one line on stderr and exit 2."""
    import errno
    import os

    try:  # Python flushes stdout at exit; that flush must not fail again (with a traceback)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # not a file descriptor (output captured in-process): nothing is flushed at exit
    if error.errno == errno.EPIPE:
        return 128 + 13
    print(f"vislab: error: cannot write the output to stdout: {error.strerror or error}; "
          "free space where it goes, or send it elsewhere", file=sys.stderr)
    return 2
