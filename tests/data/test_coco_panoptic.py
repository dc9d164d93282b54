"""The COCO panoptic format in its three common exports (COCO, Cityscapes, ADE20K): classes from the
categories, instances from the segment-id PNGs, crowd and unlabeled pixels ignored."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from seg_files import panoptic_scene, write_coco_panoptic
from vislab.config import resolve
from vislab.data import build
from vislab.errors import VislabError


def panoptic(root, overrides, **more):
    cfg = resolve("shapes-panoptic", {"data.name": "coco_panoptic", "data.root": str(root), **overrides, **more})
    return build(cfg.data, cfg.aug)


@pytest.mark.parametrize("layout", ["coco", "cityscapes", "ade20k"])
def test_each_export_gives_classes_from_the_categories_and_an_instance_per_thing_segment(tmp_path, layout):
    overrides = write_coco_panoptic(tmp_path, layout)
    bundle = panoptic(tmp_path, overrides)
    info = bundle.info
    assert info.class_names == ["road", "person", "car"] and info.thing_classes == [1, 2] and info.ignore_index == 255
    assert (len(bundle.train), len(bundle.val)) == (3, 2)
    sample = bundle.val[1]
    _, ids, _ = panoptic_scene(1)
    expected = np.select([ids == 7, ids == 26001, ids == 26002], [0, 2, 2], 255)  # crowd and unlabeled: 255
    assert np.array_equal(sample["target"].numpy(), expected)
    instance = sample["instance"].numpy()
    assert (instance[ids == 26001] == 1).all() and (instance[ids == 26002] == 2).all()
    assert (instance[(ids == 7) | (ids == 24000) | (ids == 0)] == 0).all()


def test_the_recipe_panoptic_targets_come_from_a_cityscapes_export(tmp_path):
    """What the panoptic task trains on: one batch's centers lie on the cars, none on the crowd."""
    from vislab.data.loading.loader import Loader
    from vislab.data.families.panoptic_targets import panoptic_targets
    import torch

    bundle = panoptic(tmp_path, write_coco_panoptic(tmp_path, "cityscapes"))
    batch = next(Loader(bundle.val, 2, device=torch.device("cpu"), train=False, num_workers=0).epoch(0))
    targets = panoptic_targets(batch["target"], batch["instance"], torch.tensor(bundle.info.thing_classes), 2.0, 255)
    peaks = (targets.center[:, 0] == 1).nonzero().tolist()
    assert len(peaks) == 4 and all(x >= 24 for _, _, x in peaks)  # two cars per image, on the right half
    assert targets.center_weight[0, 0, 0].sum() == 0  # the unlabeled first row is ignored


def test_broken_exports_are_bad_input_naming_the_file(tmp_path, main):
    overrides = write_coco_panoptic(tmp_path)
    args = [f"{k}={v}" for k, v in overrides.items()]
    png = tmp_path / "annotations" / "panoptic_val2017" / "000000000001.png"
    ids = np.full((32, 48), 999, np.int64)
    Image.fromarray(np.stack([ids % 256, ids // 256, ids * 0], -1).astype(np.uint8)).save(png)
    code, _, err = main("train", "shapes-panoptic", "data.name=coco_panoptic", f"data.root={tmp_path}", *args)
    assert code == 2 and err.count("\n") == 1 and f"panoptic PNG {png} holds segment ids 999 that its segments_info lacks" in err
    png.unlink()
    code, _, err = main("train", "shapes-panoptic", "data.name=coco_panoptic", f"data.root={tmp_path}", *args)
    assert code == 2 and f"panoptic PNG {png} of image 000000000001.jpg is missing" in err
    (tmp_path / "annotations" / "panoptic_val2017.json").write_text('{"images": [')
    code, _, err = main("train", "shapes-panoptic", "data.name=coco_panoptic", f"data.root={tmp_path}", *args)
    assert code == 2 and "panoptic_val2017.json is not readable JSON" in err
    data = json.loads((tmp_path / "annotations" / "panoptic_train2017.json").read_text())
    data["annotations"][0]["segments_info"][0]["category_id"] = 99
    (tmp_path / "annotations" / "panoptic_train2017.json").write_text(json.dumps(data))
    with pytest.raises(VislabError, match=r"a segment of image 000000000000.jpg has category_id 99, which 'categories' lacks \(it has 7, 24, 26\)"):
        panoptic(tmp_path, overrides)
    with pytest.raises(VislabError, match="needs data.root=PATH"):
        build(resolve("shapes-panoptic", {"data.name": "coco_panoptic"}).data, resolve("shapes-panoptic").aug)
