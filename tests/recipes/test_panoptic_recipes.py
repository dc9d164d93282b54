"""The panoptic recipes train a few batches on CPU at a tiny size; a trained run evaluates, predicts panoptic
PNGs, and the course's loss-weight sweep is one grid line; panoptic heads without instance ids are bad input."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from seg_files import write_pairs, write_voc
from vislab import api, config
from vislab.experiments.space import parse_items
from vislab.experiments.sweep import build_spec

TINY = ["train.epochs=1", "train.batch_size=2", "train.limit_batches=2", "train.progress=false", "data.num_workers=0"]


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    overrides = dict(config.parse_override(i) for i in ["data.num_samples=8", "aug.hflip=0.5", *TINY])
    return api.train("shapes-panoptic", runs_dir=tmp_path_factory.mktemp("runs"), **overrides)


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


def test_voc_panoptic_trains_two_batches_from_segmentation_object_pngs(tmp_path, main):
    root = write_voc(tmp_path / "data", objects=True)
    code, out, err = main("train", "voc-panoptic", f"data.root={root}", "model.pretrained=false", *TINY,
                          "aug.random_crop={size: [32, 32], pad_if_needed: true}")
    assert code == 0, err
    run = next((tmp_path / "runs" / "voc-panoptic").iterdir())
    cfg = config.resolve(run / "config.yaml")
    assert (cfg.model.name, cfg.model.backbone, cfg.loss.center_weight, cfg.loss.offset_weight) == ("panoptic_deeplab", "resnet101", 200, 0.01)
    assert (cfg.optim.name, cfg.optim.lr, cfg.sched.name, cfg.sched.step_size) == ("adamw", 9e-6, "step", 5)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and "val_pq_person" in summary["metrics"]


def test_the_course_weight_sweep_is_a_grid_of_27_trials(tmp_path):
    fixed, grid, ranges = parse_items([f"data.root={write_voc(tmp_path, objects=True)}",
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
    (["digits", "model.name=unet", "model.heads=panoptic"], "dataset digits has no instance ids"),
    (["shapes-panoptic", "data.name=pairs", "data.root={pairs}", "data.mask_values={0: 0, 255: 1}"],
     "dataset pairs has no instance ids.*data.instance_dir=FOLDER"),
    (["shapes-panoptic", "model.name=deeplabv3_resnet50"], "deeplabv3_resnet50 has no center and offset heads"),
])
def test_panoptic_heads_without_instance_ids_exit_2_before_any_run(args, message, tmp_path, main):
    pairs = write_pairs(tmp_path / "pairs", n=4)
    code, _, err = main("train", *[a.format(pairs=pairs) for a in args], "data.num_samples=8", *TINY)
    assert code == 2 and "Traceback" not in err
    assert re.search(message, err), err
    assert not list(tmp_path.glob("runs/*/*/config.yaml"))
