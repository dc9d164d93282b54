"""The in-memory fast path: per-batch augmentation on the device, checked against torchvision's per-sample ops."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from vislab.config import resolve
from vislab.data import Loader, MemoryDataset, build
from vislab.data.augment.per_batch import augment_for_memory, crop, uniform


def aug_of(**keys):
    return resolve("digits", {f"aug.{k}": v for k, v in keys.items()}).aug


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_crop_pads_like_torchvision(mode):
    x = torch.rand(2, 3, 5, 6)
    padded = TF.pad(x, [2, 3, 2, 3], padding_mode=mode)  # left, top, right, bottom
    out = crop(x, torch.tensor([0, 4]) - 3, torch.tensor([1, 0]) - 2, 5, 6, mode, 0.0)
    assert torch.equal(out, torch.stack([padded[0, :, 0:5, 1:7], padded[1, :, 4:9, 0:6]]))


def test_rotation_matches_torchvision_per_sample():
    x = torch.rand(3, 3, 20, 30)
    out = augment_for_memory(aug_of(rotation=25))({"image": x, "target": torch.arange(3)}, gen(1))["image"]
    angles = uniform(gen(1), 3, -25, 25)
    for i in range(3):
        ref = TF.rotate(x[i], float(angles[i]), interpolation=InterpolationMode.BILINEAR)
        assert (out[i] - ref).abs().mean() < 1e-4


def test_random_crop_draws_per_sample_and_repeats_with_the_seed():
    aug = augment_for_memory(aug_of(random_crop={"size": 8, "padding": 4, "padding_mode": "reflect"}))
    x = torch.rand(1, 1, 8, 8).expand(16, -1, -1, -1)  # one image, 16 times
    first = aug({"image": x, "target": torch.zeros(16, dtype=torch.long)}, gen(3))["image"]
    again = aug({"image": x, "target": torch.zeros(16, dtype=torch.long)}, gen(3))["image"]
    assert first.shape == (16, 1, 8, 8)
    assert torch.equal(first, again)
    assert len({tuple(img.flatten().tolist()) for img in first}) > 4  # samples got their own windows


def test_flip_invert_erasing_and_hue():
    x = torch.rand(4, 3, 10, 10)
    target = torch.arange(4)
    assert torch.equal(augment_for_memory(aug_of(hflip=1.0, vflip=1.0))({"image": x, "target": target}, gen())["image"],
                       x.flip(-1).flip(-2))
    assert torch.allclose(augment_for_memory(aug_of(invert=1.0))({"image": x, "target": target}, gen())["image"], 1 - x)
    erased = augment_for_memory(aug_of(random_erasing=1.0))({"image": x + 0.5, "target": target}, gen())["image"]
    share = (erased == 0).all(1).float().mean((1, 2))
    assert ((share >= 0.01) & (share <= 0.34)).all()
    jitter = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.3}
    out = augment_for_memory(aug_of(color_jitter=jitter))({"image": x, "target": target}, gen(5))["image"]
    for i, h in enumerate(uniform(gen(5), 4, -0.3, 0.3)):
        assert torch.allclose(out[i], TF.adjust_hue(x[i], float(h)), atol=1e-5)


def test_masks_follow_the_geometry_and_padding_gets_the_ignore_index():
    mask = torch.randint(0, 3, (4, 12, 12))
    image = mask[:, None].float() / 255  # the image shows its mask, so both must move together
    aug = augment_for_memory(aug_of(random_crop={"size": 12, "padding": 3}, hflip=0.5), "segmentation")
    out = aug({"image": image, "target": mask}, gen(2))
    inside = out["target"] != 255
    assert 0 < inside.float().mean() < 1
    assert torch.equal((out["image"][:, 0] * 255).round().long()[inside], out["target"][inside])
    assert (out["image"][:, 0][~inside] == 0).all()


def test_evaluation_batches_of_memory_splits_are_resized_too():
    cfg = resolve("digits", {"aug.resize": [16, 16], "aug.rotation": 10, "data.in_memory": True})
    bundle = build(cfg.data, cfg.aug)
    assert isinstance(bundle.val, MemoryDataset) and bundle.info.image_size == (16, 16)
    for split, train in ((bundle.train, True), (bundle.val, False)):
        batch = next(Loader(split, 8, device=torch.device("cpu"), train=train).epoch(0))
        assert batch["image"].shape == (8, 1, 16, 16)


def test_in_memory_true_refuses_what_batches_cannot_do(main):
    code, _, err = main("train", "digits", "aug.random_resize=[0.5,2.0]", "data.in_memory=true")
    assert code == 2 and "aug.random_resize" in err and "data.in_memory=false" in err
    cfg = resolve("digits", {"aug.random_resize": [0.5, 2.0], "aug.resize": [8, 8], "aug.center_crop": 8})
    assert not isinstance(build(cfg.data, cfg.aug).train, MemoryDataset)  # auto falls back to per-sample


def test_a_crop_that_cannot_fit_is_reported_before_training(main, tmp_path):
    code, _, err = main("train", "digits", "aug.random_crop={size: 12}")
    assert code == 2 and "aug.random_crop" in err and "pad_if_needed" in err
    assert not (tmp_path / "runs" / "digits").exists()
