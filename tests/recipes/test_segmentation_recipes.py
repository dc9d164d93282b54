"""Every segmentation recipe builds and trains two batches on CPU at a tiny size; a trained run predicts
colour masks and overlays for new images, and evaluates."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from seg_files import write_voc
from vislab import api, config, data, tasks
from vislab.data.loading import Loader
from vislab.engine.optim import build_optimizer, build_scheduler

TINY = ["train.epochs=1", "train.batch_size=2", "train.limit_batches=2", "train.progress=false", "data.num_workers=0"]
SMALL_VOC = ["aug.random_crop.size=[32,32]", "data.repeat=[{resize: [32, 40]}, {random_crop: {size: [32, 32], pad_if_needed: true}}]"]


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    overrides = dict(config.parse_override(i) for i in ["data.num_samples=8", *TINY])
    return api.train("shapes-unet", runs_dir=tmp_path_factory.mktemp("runs"), **overrides)


@pytest.mark.parametrize("recipe", ["voc-unet", "voc-unet-baseline"])
def test_voc_unet_recipes_train_two_batches(recipe, tmp_path, main):
    root = write_voc(tmp_path / "data")
    code, out, err = main("train", recipe, f"data.root={root}", *TINY, *SMALL_VOC)
    assert code == 0, err
    run = next((tmp_path / "runs" / recipe).iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["best_metric"] == "val_miou" and summary["train_size"] == 8
    assert 0 <= summary["metrics"]["val_miou"] <= 1 and "val_iou_person" in summary["metrics"]
    assert {"per_class_iou.csv", "per_class_iou.md", "worst_val.png"} <= {p.name for p in (run / "artifacts").iterdir()}
    assert (run / "splits" / "train.txt").read_text().count("\n") == 4  # the images, not their repeated passes


def test_voc_deeplabv3_recipe_takes_two_training_steps(tmp_path):
    """ResNet-101 checkpoints are too heavy for a test run: its recipe's data, model, loss and optimizer
    take two steps through the task instead."""
    cfg = config.resolve("voc-deeplabv3", {"data.root": str(write_voc(tmp_path)), "model.pretrained": False,
                                          "model.aux_loss": True})
    bundle = data.build(cfg.data, cfg.aug)
    task = tasks.build(cfg, bundle.info)
    model = task.build_model(cfg, bundle.info)
    optimizer = build_optimizer(cfg.optim, model)
    scheduler = build_scheduler(cfg.sched, optimizer, steps_per_epoch=2, epochs=cfg.train.epochs)
    loader = Loader(bundle.train, 2, device=torch.device("cpu"), train=True, num_workers=0,
                    mean=bundle.info.mean, std=bundle.info.std, limit_batches=2)
    before = model.classifier[4].weight.clone()
    for batch in loader.epoch(0):
        outputs = task.forward(model, batch)
        loss = task.loss(outputs, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        assert math.isfinite(loss.item()) and outputs["aux"].shape == outputs["out"].shape
    assert type(optimizer).__name__ == "AdamW" and optimizer.param_groups[0]["lr"] == pytest.approx(9e-6)
    assert not torch.equal(before, model.classifier[4].weight) and model.classifier[4].out_channels == 21


def test_shapes_unet_predicts_colour_masks_and_overlays_at_each_image_size(shapes_run, tmp_path, main):
    assert shapes_run.summary["status"] == "completed" and (shapes_run.dir / "data_info.json").is_file()
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((30, 50, 3), 90, np.uint8)).save(photos / "a.png")
    Image.fromarray(np.full((70, 41), 200, np.uint8)).save(photos / "b.jpg")
    code, out, err = main("predict", shapes_run.dir, photos, "--out", tmp_path / "pred")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "pred").iterdir()) == ["a_mask.png", "a_overlay.png", "b_mask.png", "b_overlay.png"]
    mask = Image.open(tmp_path / "pred" / "b_mask.png")
    assert mask.mode == "P" and mask.size == (41, 70) and np.asarray(mask).max() < 4
    overlay = Image.open(tmp_path / "pred" / "a_overlay.png")
    assert overlay.mode == "RGB" and overlay.size == (50, 30)
    assert "a_mask.png" in out


def test_eval_and_bad_predict_inputs(shapes_run, tmp_path, main):
    code, out, _ = main("eval", shapes_run.dir)
    assert code == 0 and "val_miou" in out and "val_iou_triangle" in out
    code, _, err = main("predict", shapes_run.dir, tmp_path / "nowhere.png")
    assert code == 2 and "nowhere.png does not exist" in err
