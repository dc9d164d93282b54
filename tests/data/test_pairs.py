"""Folders of image/mask pairs: matching, checking before any run directory exists, mapping, seeded splits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from seg_files import write_pairs
from vislab import config, data

BINARY = "data.mask_values={0: 0, 255: 1}"


def build(root, *items):
    overrides = dict(config.parse_override(i) for i in items)
    cfg = config.resolve("shapes-unet", {"data.name": "pairs", "data.root": str(root), **overrides})
    return data.build(cfg.data, cfg.aug)


def test_binary_masks_map_through_mask_values_and_split_by_seed(tmp_path):
    root = write_pairs(tmp_path / "d", n=10)
    bundle = build(root, BINARY, "data.val_fraction=0.3")
    assert (bundle.info.num_classes, bundle.info.channels) == (2, 1)
    assert len(bundle.train) == 7 and len(bundle.val) == 3
    assert set(bundle.train[0]["target"].unique().tolist()) == {0, 1}
    again, other = build(root, BINARY, "data.val_fraction=0.3"), build(root, BINARY, "data.val_fraction=0.3", "data.split_seed=1")
    assert again.files == bundle.files and other.files["val"] != bundle.files["val"]
    assert sorted(bundle.files["train"] + bundle.files["val"]) == [f"images/{i:03d}.png" for i in range(10)]


def test_the_split_is_saved_in_the_run_directory(tmp_path, main):
    root = write_pairs(tmp_path / "d", n=6, size=(16, 16))
    code, out, err = main("train", "shapes-unet", "data.name=pairs", f"data.root={root}", BINARY, "model.depth=2",
                          "model.widths=[4,8]", "train.epochs=1", "train.batch_size=4", "train.progress=false")
    assert code == 0, err
    run = next((tmp_path / "runs" / "shapes-unet").iterdir())
    val = (run / "splits" / "val.txt").read_text().split()
    train = (run / "splits" / "train.txt").read_text().split()
    assert len(val) == 1 and len(train) == 5 and not set(val) & set(train)


def test_train_val_folders_are_used_as_given(tmp_path):
    write_pairs(tmp_path / "d" / "train", n=4, values=(0, 1, 2), gray=False)
    write_pairs(tmp_path / "d" / "val", n=2, values=(0, 2))
    bundle = build(tmp_path / "d")
    assert (len(bundle.train), len(bundle.val), bundle.info.num_classes, bundle.info.channels) == (4, 2, 3, 3)
    assert bundle.val[0]["image"].shape[0] == 3  # the first image decides the channels, the rest are converted
    assert bundle.files["val"] == ["val/images/000.png", "val/images/001.png"]


@pytest.mark.parametrize(
    "damage, words",
    [
        ("unmapped", ["masks/002.png", "holds values 7", "data.mask_values"]),
        ("size", ["images/001.png is 24x32", "masks/001.png is 20x32"]),
        ("no_mask", ["images/004.png has no mask"]),
    ],
)
def test_bad_pairs_exit_2_naming_the_file_before_any_run_directory(tmp_path, main, damage, words):
    root = write_pairs(tmp_path / "d", n=6)
    if damage == "unmapped":
        mask = np.asarray(Image.open(root / "masks" / "002.png")).copy()
        mask[0, :3] = 7
        Image.fromarray(mask).save(root / "masks" / "002.png")
    elif damage == "size":
        Image.fromarray(np.zeros((20, 32), np.uint8)).save(root / "masks" / "001.png")
    else:
        (root / "masks" / "004.png").unlink()
    code, _, err = main("train", "shapes-unet", "data.name=pairs", f"data.root={root}", BINARY)
    assert code == 2 and "Traceback" not in err
    for w in words:
        assert w in err
    assert not (tmp_path / "runs" / "shapes-unet").exists()


def test_masks_of_0_and_255_alone_ask_for_mask_values(tmp_path, main):
    root = write_pairs(tmp_path / "d", n=4)
    code, _, err = main("train", "shapes-unet", "data.name=pairs", f"data.root={root}")
    assert code == 2 and "data.mask_values" in err and "[0, 255]" in err


def test_isbi_membranes_train_as_a_binary_pairs_dataset(shared_data, main, tmp_path):
    root = shared_data / "isbi2012-membrane"
    bundle = build(root, "data.image_dir=image", "data.mask_dir=label", BINARY, "data.limit=4")
    assert (bundle.info.num_classes, bundle.info.channels, len(bundle.train)) == (2, 1, 4)
    target = bundle.val[0]["target"]
    assert target.shape == (512, 512) and set(target.unique().tolist()) == {0, 1}
    assert 0.1 < float((target == 0).float().mean()) < 0.5  # raw 0 (the dark membranes) is the minority
