"""One augmentation plan, two executors: per sample (transforms.v2) and per batch (in memory); what the per-batch
path cannot do goes per sample (data.in_memory=auto) or is refused (true), never dropped."""

from __future__ import annotations

import pytest
import torch

from vislab import config, data
from vislab.data import Loader, MemoryDataset
from vislab.data.augment.plan import ORDER, plan
from vislab.data.augment.per_batch import PER_BATCH, augment_for_memory
from vislab.data.augment.per_sample import PER_SAMPLE, build_transform

POLICIES = {
    "aug.randaugment": {"num_ops": 2, "magnitude": 9},
    "aug.trivialaugment": True,
    "aug.autoaugment": {"policy": "cifar10"},
    "aug.augmix": {"severity": 3},
}


def bundle(recipe: str, **overrides):
    cfg = config.resolve(recipe, overrides)
    return data.build(cfg.data, cfg.aug)


def test_every_planned_key_has_a_per_sample_op_and_both_executors_follow_the_plan_order():
    assert set(PER_SAMPLE) == {key for key, _ in ORDER} and set(PER_BATCH) < set(PER_SAMPLE)
    aug = config.resolve("digits", {
        "aug.resize": [12, 12], "aug.rotation": 10, "aug.random_crop": {"size": 10}, "aug.hflip": 0.5,
        "aug.center_crop": 8, "aug.color_jitter": {}, "aug.invert": 0.1, "aug.random_erasing": 0.2,
    }).aug
    keys = [op.key for op in plan(aug, train=True)]
    assert keys == ["resize", "rotation", "random_crop", "hflip", "center_crop", "color_jitter", "invert", "random_erasing"]
    per_sample = [type(t).__name__ for t in build_transform(aug, train=True).transforms]
    per_batch = [type(op).__name__ for op in augment_for_memory(aug).ops]
    assert per_sample == ["Resize", "RandomRotation", "RandomCrop", "RandomHorizontalFlip", "CenterCrop", "ColorJitter",
                          "RandomInvert", "RandomErasing"]
    assert per_batch == ["Resize", "Rotate", "RandomCrop", "Flip", "CenterCrop", "ColorJitter", "Invert", "RandomErasing"]
    assert [op.key for op in plan(aug, train=False)] == ["resize", "center_crop"]


@pytest.mark.parametrize("key", POLICIES)
def test_policies_run_per_sample_and_repeat_with_the_sample_seed(key):
    plain, policy = bundle("digits"), bundle("digits", **{key: POLICIES[key]})
    assert isinstance(plain.train, MemoryDataset) and not isinstance(policy.train, MemoryDataset)  # auto fell back
    images = [policy.train[(i, 100 + i)]["image"] for i in range(16)]
    assert [im.dtype for im in images[:1]] == [torch.uint8]
    assert sum(not torch.equal(im, plain.train[i]["image"]) for i, im in enumerate(images)) >= 4
    assert all(torch.equal(policy.train[(i, 100 + i)]["image"], im) for i, im in enumerate(images))


@pytest.mark.parametrize("key", POLICIES)
def test_in_memory_true_refuses_a_policy(main, tmp_path, key):
    code, _, err = main("train", "digits", f"{key}={POLICIES[key]}".replace("'", ""), "data.in_memory=true")
    assert code == 2 and f"cannot apply {key}" in err and "data.in_memory=false" in err, err


def test_two_policies_and_policies_on_masks_are_refused(main, tmp_path):
    code, _, err = main("train", "digits", "aug.trivialaugment=true", "aug.randaugment={}")
    assert code == 2 and "aug.randaugment and aug.trivialaugment are both on" in err, err
    code, _, err = main("train", "shapes-unet", "data.num_samples=20", "aug.trivialaugment=true")
    assert code == 2 and "aug.trivialaugment moves image pixels but not the masks" in err, err
    assert not list((tmp_path / "runs").glob("*/*"))


@pytest.mark.parametrize("setting", ["aug.random_resize=[0.5,1.5]", "data.repeat=[{hflip: 1.0}]"])
def test_shapes_in_memory_true_refuses_what_batches_cannot_do_instead_of_dropping_it(main, tmp_path, setting):
    code, _, err = main("train", "shapes-unet", "data.num_samples=20", "data.in_memory=true", setting)
    assert code == 2 and f"cannot apply {setting.split('=')[0]}" in err, err
    assert not list((tmp_path / "runs").glob("*/*"))


def test_in_memory_evaluation_splits_of_shapes_are_resized_like_training():
    b = bundle("shapes-unet", **{"data.num_samples": 20, "aug.resize": [32, 48]})
    assert isinstance(b.val, MemoryDataset)
    for split, train in ((b.train, True), (b.val, False)):
        batch = next(Loader(split, 4, device=torch.device("cpu"), train=train).epoch(0))
        assert batch["image"].shape[-2:] == batch["target"].shape[-2:] == (32, 48)
