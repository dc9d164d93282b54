"""Every segmentation recipe builds and trains two batches on CPU at a tiny size; a trained run predicts
colour masks and overlays for new images, and evaluates."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from seg_files import write_ade20k, write_cityscapes, write_voc
from vislab import api, config, data, models, tasks
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


# Each recipe's pipeline at a size a CPU test affords: 32x32 crops (32x64 for Cityscapes), no pretrained weights.
SCENE_PARSING = {
    "ade20k-deeplabv3": (write_ade20k, ["model.pretrained=false", "aug.random_crop.size=[32,32]", "aug.random_resize=[0.8,1.2]"],
                         "val_iou_wall"),
    "cityscapes-unet": (write_cityscapes, ["aug.random_crop.size=[32,64]", "eval.sliding_window=[32,32]", "model.depth=3",
                                           "model.widths=[8,16,32]"], "val_iou_car"),
}


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["ade20k-deeplabv3", "cityscapes-unet"])
def test_scene_parsing_recipes_train_two_batches(recipe, tmp_path, main):
    write, overrides, metric = SCENE_PARSING[recipe]
    write(tmp_path / "data")
    code, out, err = main("train", recipe, f"data.root={tmp_path / 'data'}", *TINY, *overrides)
    assert code == 0, err
    run = next((tmp_path / "runs" / recipe).iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["best_metric"] == "val_miou" and 0 <= summary["metrics"][metric] <= 1


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


def test_predictions_inside_the_input_folder_are_not_read_again(shapes_run, tmp_path, main):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.full((30, 50, 3), 90, np.uint8)).save(photos / "a.png")
    for _ in range(2):
        code, out, err = main("predict", shapes_run.dir, photos, "--out", photos / "masks")
        assert code == 0, err
    assert sorted(p.name for p in (photos / "masks").iterdir()) == ["a_mask.png", "a_overlay.png"]
    assert out.count("_mask.png") == 1


def test_eval_and_bad_predict_inputs(shapes_run, tmp_path, main):
    code, out, _ = main("eval", shapes_run.dir)
    assert code == 0 and "val_miou" in out and "val_iou_triangle" in out
    code, _, err = main("predict", shapes_run.dir, tmp_path / "nowhere.png")
    assert code == 2 and "nowhere.png does not exist" in err


def test_a_run_keeps_per_image_intersections_and_unions_that_give_its_miou(shapes_run):
    from vislab import records

    assert records.read(shapes_run.dir, "test") is None  # shapes has no test split
    rows = records.read(shapes_run.dir, "val")
    assert rows["intersection"].shape == rows["union"].shape == (len(rows["index"]), 4)  # 4 classes
    assert (rows["intersection"] <= rows["union"]).all() and rows["union"].sum() > 0
    miou = records.metric_function(rows, "miou")(rows, np.ones((1, len(rows["index"]))))[0]
    best = next(r for r in shapes_run.history if r["epoch"] == shapes_run.summary["best_epoch"])
    assert miou == pytest.approx(best["val_miou"], abs=1e-6)


@pytest.mark.slow
def test_eval_with_tta_records_it_and_averages_flips_and_scales(shapes_run, main):
    code, out, err = main("eval", shapes_run.dir, "eval.tta.flip=true", "eval.tta.scales=[0.75,1.0,1.25]")
    assert code == 0, err
    saved = json.loads((shapes_run.dir / "eval_val_best.json").read_text())
    assert saved["tta"] == {"flip": True, "scales": [0.75, 1.0, 1.25]} and 0 <= saved["val_miou"] <= 1
    plain = api.evaluate(shapes_run.dir)
    assert plain["val_loss"] != saved["val_loss"]  # six views averaged are not the image alone
    code, _, err = main("eval", shapes_run.dir, "eval.panoptic.nms_kernel=11")
    assert code == 2 and "config key eval.panoptic.nms_kernel does nothing for evaluating a segmentation run" in err
    code, _, err = main("eval", shapes_run.dir, "eval.tta.scales=[0,1]")
    assert code == 2 and "eval.tta.scales must be positive" in err


def test_loss_terms_are_summed_and_keys_they_do_not_read_refused():
    cfg = config.resolve("shapes-unet", {"loss.terms": [{"name": "ce"}, {"name": "dice", "weight": 0.5}]})
    info = data.bundle.DataInfo("segmentation", 3, ["a", "b", "c"], 3, [0.5] * 3, [0.2] * 3)
    task = tasks.build(cfg, info)
    logits, target = torch.randn(2, 3, 4, 5), torch.randint(0, 3, (2, 4, 5))
    target[0, 0] = 255
    from vislab.losses import cross_entropy, dice

    expected = cross_entropy(logits, target, 255) + 0.5 * dice(logits, target, 255)
    torch.testing.assert_close(task.loss({"out": logits}, {"target": target}), expected)
    with pytest.raises(api.VislabError, match="config key 'loss.label_smoothing' does nothing for loss.terms without a multi-class ce"):
        tasks.build(config.resolve("shapes-unet", {"loss.terms": [{"name": "dice"}], "loss.label_smoothing": 0.1}), info)
    with pytest.raises(api.VislabError, match=r"loss.terms\[0\].gamma: the dice loss has no gamma"):
        tasks.build(config.resolve("shapes-unet", {"loss.terms": [{"name": "dice", "gamma": 2}]}), info)
