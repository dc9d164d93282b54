"""A trained segmentation run predicts colour masks and overlays for new images, and evaluates (every recipe
trains through the command line in tests/journeys/test_recipes.py)."""

from __future__ import annotations

import json
import numpy as np
import pytest
import torch
from PIL import Image

from vislab import api, config, data, tasks

TINY = ["train.epochs=1", "train.batch_size=2", "train.limit_batches=2", "train.progress=false", "data.num_workers=0"]


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    overrides = dict(config.parse_override(i) for i in ["data.num_samples=8", *TINY])
    return api.train("shapes-unet", runs_dir=tmp_path_factory.mktemp("runs"), **overrides)


def test_voc_deeplabv3_recipe_says_what_the_course_did():
    cfg = config.resolve("voc-deeplabv3")
    assert (cfg.model.name, cfg.model.pretrained, cfg.data.name) == ("deeplabv3_resnet101", True, "voc")
    assert (cfg.optim.name, cfg.optim.lr) == ("adamw", 9e-6)


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
