"""Instance ids for panoptic work: VOC's SegmentationObject PNGs, pairs' data.instance_dir, shapes; each moved with
the image by the same joint augmentation (nearest, filled with the ignore index), per sample and per batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from seg_files import voc_objects, write_pairs
from seg_files import write_voc
from vislab import config, data
from vislab.data.augment.per_batch import augment_for_memory
from vislab.errors import VislabError

NO_AUG = {"data.repeat": None, "aug.random_crop": None, "aug.hflip": None}


def voc(root, **overrides):
    cfg = config.resolve("voc-panoptic", {"data.root": str(root), "model.pretrained": False, **overrides})
    return data.build(cfg.data, cfg.aug)


def consistent(target: torch.Tensor, instance: torch.Tensor) -> bool:
    """Whether each instance id of voc_objects lies only on its class: 1 on class 1, 2 and 3 on class 15,
    0 on background, 255 (void, and what padding fills) on 255."""
    class_of = torch.zeros(256, dtype=torch.long)
    class_of[[1, 2, 3, 255]] = torch.tensor([1, 15, 15, 255])
    return bool((class_of[instance.long()] == target.long()).all())


def test_voc_reads_segmentation_object_pngs_as_instance_ids(tmp_path):
    bundle = voc(write_voc(tmp_path, objects=True), **NO_AUG)
    assert bundle.info.thing_classes == list(range(1, 21))
    sample = bundle.val[0]
    assert np.array_equal(sample["instance"].numpy(), voc_objects(sample["target"].numpy()))
    assert voc(write_voc(tmp_path / "plain"), **NO_AUG).info.thing_classes is None  # no SegmentationObject folder


def test_voc_instance_ids_move_with_crops_flips_and_rotations(tmp_path):
    bundle = voc(write_voc(tmp_path, objects=True), **{
        "data.repeat": None, "aug.hflip": 0.5, "aug.rotation": 30, "aug.random_resize": [0.7, 1.3],
        "aug.random_crop": {"size": [48, 48], "pad_if_needed": True},
    })
    for i in range(len(bundle.train)):
        sample = bundle.train[(i, 1234 + i)]
        assert sample["instance"].shape == sample["target"].shape == (48, 48)
        assert consistent(sample["target"], sample["instance"])  # padding and corners: 255 in both
        assert (sample["target"] == 255).any()


def test_pairs_take_instance_masks_from_data_instance_dir(tmp_path):
    root = write_pairs(tmp_path / "d", n=4, values=(0, 1, 2), gray=False)
    (root / "inst").mkdir()
    for i in range(4):
        mask = np.asarray(Image.open(root / "masks" / f"{i:03d}.png"))
        Image.fromarray((mask > 0).astype(np.uint8) * (1 + np.arange(mask.shape[1]) // 11)[None].astype(np.uint8)).save(root / "inst" / f"{i:03d}.png")
    cfg = config.resolve("shapes-panoptic", {"data.name": "pairs", "data.root": str(root), "data.instance_dir": "inst",
                                             "aug.hflip": 1.0})
    bundle = data.build(cfg.data, cfg.aug)
    assert bundle.info.thing_classes == [1, 2]
    raw = np.asarray(Image.open(root / "inst" / f"{bundle.files['train'][0][7:10]}.png"))
    assert np.array_equal(bundle.train[(0, 5)]["instance"].numpy(), raw[:, ::-1])  # flipped with the image
    (root / "inst" / "001.png").unlink()
    with pytest.raises(VislabError, match=r"image .*001.png has no instance mask .*inst/001.png"):
        data.build(cfg.data, cfg.aug)
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(root / "inst" / "001.png")
    with pytest.raises(VislabError, match=r"is 24x32 but its instance mask .*001.png is 5x5"):
        data.build(cfg.data, cfg.aug)


def test_in_memory_batches_move_instance_ids_with_the_mask():
    cfg = config.resolve("shapes-panoptic", {"data.num_samples": 8, "data.in_memory": True, "aug.hflip": 0.5, "aug.rotation": 20,
                                             "aug.random_crop": {"size": 48, "padding": 8}})
    bundle = data.build(cfg.data, cfg.aug)
    ds = bundle.train
    batch = {"image": ds.images.float() / 255, "target": ds.targets.clone(), "instance": ds.extras["instance"].clone()}
    out = bundle.train.augment(batch, torch.Generator().manual_seed(3))
    assert out["instance"].shape == out["target"].shape == (8, 48, 48)
    ignored = out["target"] == 255
    assert ignored.any() and (out["instance"][ignored] == 255).all()
    assert ((out["instance"] > 0) == (out["target"] > 0))[~ignored].all()  # shapes: instances exactly on the shapes
    plain = augment_for_memory(cfg.aug, task="segmentation")(dict(batch), torch.Generator().manual_seed(3))
    assert torch.equal(plain["target"], out["target"])  # the instance map draws no random numbers of its own
