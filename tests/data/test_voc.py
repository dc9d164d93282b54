"""VOC 2012 read through the real loader from a tiny tree in torchvision's layout."""

from __future__ import annotations

import pytest
import torch

from seg_files import write_voc
from vislab import config, data
from vislab.data.loading.loader import Loader


def build(root, **overrides):
    cfg = config.resolve("voc-unet", {"data.root": str(root), **overrides})
    return data.build(cfg.data, cfg.aug)


def test_voc_reads_palette_masks_as_class_indices_and_keeps_the_ignore_index(tmp_path):
    bundle = build(write_voc(tmp_path), **{"data.repeat": None, "aug.random_crop": None, "aug.hflip": None})
    assert (bundle.info.num_classes, bundle.info.class_names[15], bundle.info.ignore_index) == (21, "person", 255)
    sample = bundle.val[0]
    assert sample["image"].dtype == torch.uint8 and sample["image"].shape == (3, 36, 44)
    assert set(sample["target"].unique().tolist()) == {0, 1, 15, 255}
    assert len(bundle.train) == 4 and len(bundle.val) == 3 and bundle.test is None
    assert bundle.files["val"][0] == "VOCdevkit/VOC2012/JPEGImages/2007_000004.jpg"


def test_validation_batches_of_different_sizes_are_padded_with_the_ignore_index(tmp_path):
    bundle = build(write_voc(tmp_path), **{"data.repeat": None})
    loader = Loader(bundle.val, 3, device=torch.device("cpu"), train=False, num_workers=0)
    batch = next(loader.epoch(0))
    assert batch["image"].shape == (3, 3, 44, 48) and batch["target"].dtype == torch.int64
    assert batch["size"].tolist() == [[36, 44], [44, 40], [40, 48]]
    assert (batch["target"][0, 36:, :] == 255).all() and (batch["target"][0, :, 44:] == 255).all()
    assert (batch["image"][0, :, 36:, :] == 0).all() and (batch["target"][0, 1:36, :44] != 255).all()


def test_repeat_makes_one_pass_per_transform_set_over_the_training_split_only(tmp_path):
    bundle = build(write_voc(tmp_path), **{"aug.random_crop.size": [16, 16]})
    assert len(bundle.train) == 3 * 4 and len(bundle.val) == 3
    shapes = {tuple(bundle.train[(i, 7)]["image"].shape) for i in range(12)}
    assert shapes == {(3, 16, 16)}  # each pass, then aug's random crop
    assert bundle.train[(0, 1)]["index"] == 0 and bundle.train[(9, 1)]["index"] == 9


@pytest.mark.parametrize("download", ["false", "true"])
def test_absent_voc_offline_names_the_archive_and_where_to_get_it(download, offline, tmp_path, main):
    code, _, err = main("train", "voc-unet", f"data.root={tmp_path / 'voc'}", f"data.download={download}")
    assert code == 2 and "Traceback" not in err
    assert f"{tmp_path / 'voc' / 'VOCtrainval_11-May-2012.tar'} is missing" in err and "host.robots.ox.ac.uk" in err
    assert not (tmp_path / "runs" / "voc-unet").exists()


def test_train_aug_needs_the_sbd_masks_and_leaves_out_every_val_image(tmp_path, main):
    root = write_voc(tmp_path / "plain")
    code, _, err = main("train", "voc-unet", f"data.root={root}", "data.image_set=train_aug")
    assert code == 2 and "SegmentationClassAug" in err and "train_aug.txt" in err
    bundle = build(write_voc(tmp_path / "aug", train_aug=True), **{"data.image_set": "train_aug"})
    assert len(bundle.train) == 3 * (4 + 2)
    assert not set(bundle.files["train"]) & set(bundle.files["val"])
    assert set(bundle.train.parts[0][5]["target"].unique().tolist()) == {0, 7}
