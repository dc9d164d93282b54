"""Joint image/mask augmentation: the same random geometry for both, masks kept as class ids, the ignore
index where pixels were made up."""

from __future__ import annotations

import torch
from torchvision import tv_tensors

from vislab import config
from vislab.data.families.per_pixel import TensorSamples, training_transforms


def coded_sample():
    """An image whose first channel equals its mask (ids 0..9), so any shared geometry keeps them equal."""
    g = torch.Generator().manual_seed(0)
    mask = torch.randint(0, 10, (30, 40), generator=g, dtype=torch.uint8)
    image = torch.stack([mask, mask * 2, torch.full_like(mask, 100)])
    return image, mask


def apply(seed, **aug):
    cfg = config.resolve("shapes-unet", {f"aug.{k}": v for k, v in aug.items()})
    (transform,) = training_transforms(cfg.data, cfg.aug)
    image, mask = coded_sample()
    ds = TensorSamples(image[None], mask[None], transform=transform)
    return ds[(0, seed)]


def test_crop_flip_and_resizes_move_image_and_mask_together():
    for seed in range(5):
        s = apply(seed, random_crop={"size": [20, 24]}, hflip=0.5, vflip=0.5, resize=[45, 60], interpolation="nearest")
        assert s["image"].shape == (3, 20, 24) and s["target"].shape == (20, 24)
        assert torch.equal(s["image"][0], s["target"])
    sizes = set()
    for seed in range(4):
        s = apply(seed, random_resize=[0.5, 1.5], interpolation="nearest")
        assert torch.equal(s["image"][0], s["target"])
        sizes.add(tuple(s["target"].shape))
    assert len(sizes) > 1


def test_padding_and_rotation_fill_the_mask_with_the_ignore_index_and_never_invent_classes():
    s = apply(0, random_crop={"size": [40, 50], "pad_if_needed": True})
    assert s["target"].shape == (40, 50)
    padded = s["image"][2] == 0  # the constant channel is 0 only where padding was added
    assert padded.any() and (s["target"][padded] == 255).all() and (s["target"][~padded] < 10).all()
    r = apply(1, rotation=30.0)
    assert (r["target"] == 255).any() and set(r["target"].unique().tolist()) <= set(range(10)) | {255}


def test_color_jitter_changes_the_image_only():
    s = apply(0, color_jitter={"brightness": 0.9, "contrast": 0.9, "saturation": 0.0, "hue": 0.0})
    image, mask = coded_sample()
    assert torch.equal(s["target"], mask) and not torch.equal(s["image"], image)


def test_the_same_sample_seed_gives_the_same_augmentation():
    a, b, c = (apply(seed, random_crop={"size": [12, 12]}, hflip=0.5, rotation=10.0) for seed in (3, 3, 4))
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["target"], b["target"])
    assert not torch.equal(a["image"], c["image"])


def test_tv_tensor_types_do_not_leak_out_of_samples():
    s = apply(0, hflip=1.0)
    assert type(s["image"]) is torch.Tensor and not isinstance(s["target"], tv_tensors.Mask)
