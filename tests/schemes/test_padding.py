"""voc-semisup crops 321x321 with aug.random_crop.pad_if_needed: an unlabeled image smaller than the crop comes
padded, and the padding is no pixel of the image. The unlabeled images' hidden masks are padded with the ignore
index as labels are, so the consistency losses average over the image's own pixels only; the padding counted
as valid before (the hidden mask was all ignore index, and only the collate's padding was known)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import run_cli
from seg_files import write_voc

CROP = 64  # above every image side write_voc makes (36..48)
SMALL_UNET = ("model.name=unet", "model.pretrained=false", "model.depth=3", f"aug.random_crop.size={CROP}")


def test_padding_of_unlabeled_crops_is_not_valid(tmp_path: Path) -> None:
    from vislab import config, data
    from vislab.schemes.consistency import unlabeled_pixels

    root = write_voc(tmp_path / "data", train=16, train_aug=True)
    cfg = config.resolve("voc-semisup", {"data.root": str(root), "model.name": "unet", "model.pretrained": False,
                                         "model.depth": 3, "aug.random_crop.size": CROP})
    bundle = data.build(cfg.data, cfg.aug)
    pool = bundle.unlabeled
    names = (Path(bundle.files["unlabeled"][i]) for i in range(len(pool)))
    images = root / "VOCdevkit" / "VOC2012" / "JPEGImages"
    areas = [np.prod(Image.open(images / f"{Path(n).stem}.jpg").size) for n in names]
    batch = pool.collate([pool[(i, 1000 + i)] for i in range(len(pool))])
    assert batch["image"].shape[-2:] == (CROP, CROP)
    valid = unlabeled_pixels(batch, bundle.info.ignore_index)
    assert valid.sum((1, 2)).tolist() == areas  # each image's own pixels, none of the padding
    padded = ~valid[:, None].expand_as(batch["image"])
    assert bool((batch["image"][padded] == 0).all())


def test_voc_semisup_trains_on_crops_larger_than_its_images(tmp_path: Path) -> None:
    root = write_voc(tmp_path / "data", train=16, train_aug=True)
    done = run_cli("train", "voc-semisup", f"data.root={root}", "train.epochs=1", "train.limit_batches=2",
                   "train.batch_size=2", *SMALL_UNET)
    assert done.returncode == 0, done.stderr
    [run] = (tmp_path / "runs" / "voc-semisup").iterdir()
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"


def test_a_hidden_cut_of_a_cut_is_padded_apart_from_its_pixels() -> None:
    """A pool cut from a split that is itself a cut (data.limit, a bootstrap) hides its masks before the
    innermost transform too: 8x8 images cropped to 12x12 keep 64 valid pixels each."""
    import torch
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    from vislab.data.loading.labeled import subset
    from vislab.data.families.per_pixel import TensorSamples

    crop = v2.RandomCrop(12, pad_if_needed=True, fill={tv_tensors.Mask: 255, "others": 0})
    split = TensorSamples(torch.full((5, 3, 8, 8), 7, dtype=torch.uint8), torch.ones(5, 8, 8, dtype=torch.uint8), transform=crop)
    pool = subset(subset(split, np.array([4, 3, 2, 1])), np.array([0, 2]), hide_target=True, fill=9)
    sample = pool[(1, 5)]
    assert sample["index"] == 1 and int((sample["target"] == 9).sum()) == 64 and int((sample["target"] == 1).sum()) == 0
