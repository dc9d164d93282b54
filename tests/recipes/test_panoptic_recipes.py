"""The panoptic recipes train a few batches on CPU at a tiny size; a trained run evaluates, predicts panoptic
PNGs, and the course's loss-weight sweep is one grid line; panoptic heads without instance ids are bad input."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from PIL import Image

from seg_files import write_coco_panoptic, write_pairs, write_voc
from vislab import api, config
from vislab.experiments.sweep.space import parse_items
from vislab.experiments.sweep.spec import build_spec

TINY = ["train.epochs=1", "train.batch_size=2", "train.limit_batches=2", "train.progress=false", "data.num_workers=0"]


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    overrides = dict(config.parse_override(i) for i in ["data.num_samples=8", "aug.hflip=0.5", *TINY])
    return api.train("shapes-panoptic", runs_dir=tmp_path_factory.mktemp("runs"), **overrides)


def test_a_panoptic_recipe_trains_on_a_coco_panoptic_export(tmp_path, main):
    """The COCO panoptic format's reader under a recipe's panoptic task (the recipes' own datasets are trained in
    tests/journeys/test_recipes.py)."""
    recipe = "shapes-panoptic"
    overrides = write_coco_panoptic(tmp_path / "data", "cityscapes")
    code, _, err = main("train", recipe, "data.name=coco_panoptic", f"data.root={tmp_path / 'data'}",
                        *(f"{k}={v}" for k, v in overrides.items()), *TINY)
    assert code == 0, err
    summary = json.loads((next((tmp_path / "runs" / recipe).iterdir()) / "summary.json").read_text())
    assert summary["status"] == "completed" and 0 <= summary["metrics"]["val_pq_car"] <= 1
    assert {"val_pq", "val_miou", "val_iou_road", "val_iou_car"} <= set(summary["metrics"])


def test_shapes_panoptic_picks_its_best_checkpoint_by_pq_and_writes_pq_tables(shapes_run):
    summary = shapes_run.summary
    assert summary["status"] == "completed" and summary["best_metric"] == "val_pq"
    assert all(0 <= summary["metrics"][f"val_{k}"] <= 1 for k in ("pq", "sq", "rq", "miou"))
    assert "val_pq_triangle" in summary["metrics"] and "train_pq" not in summary["metrics"]
    table = (shapes_run.dir / "artifacts" / "per_class_pq.csv").read_text().splitlines()
    assert table[0] == "class,kind,pq,sq,rq,tp,fp,fn" and table[1].startswith("background,stuff,")
    assert table[2].startswith("circle,thing,") and (shapes_run.dir / "artifacts" / "per_class_iou.csv").is_file()


def test_predict_writes_a_panoptic_png_beside_the_semantic_mask_and_overlay(shapes_run, tmp_path, main):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((30, 50, 3), 90, np.uint8)).save(photos / "a.png")
    code, out, err = main("predict", shapes_run.dir, photos, "--out", tmp_path / "pred")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "pred").iterdir()) == ["a_mask.png", "a_overlay.png", "a_panoptic.png"]
    panoptic = Image.open(tmp_path / "pred" / "a_panoptic.png")
    assert panoptic.mode == "RGB" and panoptic.size == (50, 30) and "a_panoptic.png" in out
    code, out, _ = main("eval", shapes_run.dir)
    assert code == 0 and "val_pq" in out and "val_rq_circle" in out


def test_the_voc_panoptic_recipe_says_what_the_course_did():
    cfg = config.resolve("voc-panoptic")
    assert (cfg.model.name, cfg.model.backbone, cfg.model.pretrained, cfg.loss.center_weight, cfg.loss.offset_weight) == (
        "panoptic_deeplab", "resnet101", True, 200, 0.01)
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay, cfg.sched.name, cfg.sched.step_size, cfg.sched.gamma) == (
        "adamw", 9e-6, 1e-4, "step", 5, 0.8)


def test_the_course_weight_sweep_is_a_grid_of_27_trials(tmp_path):
    # model.pretrained=false: the sweep builds each trial's model as train would before it starts, and the
    # ResNet-101 weights cannot be downloaded here
    fixed, grid, ranges = parse_items([f"data.root={write_voc(tmp_path, objects=True)}", "model.pretrained=false",
                                       "loss.center_weight=10,200,400", "loss.offset_weight=0.001,0.01,0.1"])
    spec = build_spec("voc-panoptic", fixed, grid, ranges, seeds=3, search="grid", trials=None, prune=True)
    assert spec.trials == 27 and (spec.monitor, spec.mode) == ("val_pq", "max")
    points = spec.space.grid_points()
    assert {(p["loss.center_weight"], p["loss.offset_weight"]) for p in points} == {
        (c, o) for c in (10, 200, 400) for o in (0.001, 0.01, 0.1)}


def test_a_weight_sweep_runs_on_shapes_panoptic(tmp_path, main):
    code, out, err = main("sweep", "shapes-panoptic", "loss.center_weight=10,400", "data.num_samples=8", *TINY,
                          "--name", "w")
    assert code == 0, err
    runs = [json.loads(p.read_text()) for p in (tmp_path / "runs").rglob("summary.json")]
    assert len(runs) == 2 and all(r["status"] == "completed" and "val_pq" in r["metrics"] for r in runs)


@pytest.mark.parametrize("args, message", [
    (["digits", "task.name=panoptic", "model.name=unet", "model.heads=panoptic"],
     "task.name=panoptic cannot train on dataset digits \\(classification data\\); use task.name=classification"),
    (["shapes-panoptic", "data.name=pairs", "data.root=PAIRS", "data.mask_values={0: 0, 255: 1}"],
     "dataset pairs has no instance ids.*data.instance_dir=FOLDER"),
    (["shapes-panoptic", "model.name=deeplabv3_resnet50", "data.num_samples=8"], "deeplabv3_resnet50 has no center and offset heads"),
])
def test_panoptic_heads_without_instance_ids_exit_2_before_any_run(args, message, tmp_path, main):
    pairs = write_pairs(tmp_path / "pairs", n=4)
    code, _, err = main("train", *[a.replace("PAIRS", str(pairs)) for a in args], *TINY)
    assert code == 2 and "Traceback" not in err
    assert re.search(message, err), err
    assert not list(tmp_path.glob("runs/*/*/config.yaml"))


def test_a_run_keeps_per_image_pq_tallies_that_give_its_pq(shapes_run):
    from vislab import records

    rows = records.read(shapes_run.dir, "val")
    assert {"pq_tp", "pq_fp", "pq_fn", "pq_iou", "intersection", "union"} <= set(rows)
    pq = records.metric_function(rows, "pq")(rows, np.ones((1, len(rows["index"]))))[0]
    best = next(r for r in shapes_run.history if r["epoch"] == shapes_run.summary["best_epoch"])
    assert pq == pytest.approx(best["val_pq"], abs=1e-6, nan_ok=True)


def test_a_finished_run_is_regrouped_and_exported_for_panopticapi(shapes_run, tmp_path, main):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from panopticapi_pq import pq_compute

    code, out, err = main("eval", shapes_run.dir, "eval.panoptic.nms_kernel=15", "eval.panoptic.threshold=0.05",
                          "--export-panoptic", tmp_path / "coco")
    assert code == 0, err
    saved = json.loads((shapes_run.dir / "eval_val_best.json").read_text())
    assert saved["panoptic"] == {"threshold": 0.05, "nms_kernel": 15, "top_k": 200, "stuff_area": 0}
    assert {"val_pq_things", "val_pq_stuff", "val_things_split"} <= set(saved)
    official = pq_compute(tmp_path / "coco" / "ground_truth.json", tmp_path / "coco" / "predictions.json")
    for group, suffix in (("All", ""), ("Things", "_things"), ("Stuff", "_stuff")):
        for key in ("pq", "sq", "rq"):
            ours = saved[f"val_{key}{suffix}"]
            assert (math.isnan(ours) and official[group]["n"] == 0) or ours == pytest.approx(official[group][key], abs=1e-9)
    assert len(list((tmp_path / "coco" / "predictions").iterdir())) == len(json.loads((tmp_path / "coco" / "predictions.json").read_text())["annotations"])
    code, _, err = main("eval", shapes_run.dir, "--export-panoptic", tmp_path / "coco")
    assert code == 2 and "is not an empty folder" in err
    code, _, err = main("eval", shapes_run.dir, "eval.panoptic.nms_kernel=4")
    assert code == 2 and "eval.panoptic.nms_kernel must be an odd number" in err
