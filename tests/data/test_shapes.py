"""Synthetic shapes: reproducible from a seed, instance ids consistent with classes, memory or per-sample splits."""

from __future__ import annotations

import torch

from vislab import config, data
from vislab.data.datasets import MemoryDataset
from vislab.data.sources.shapes import generate


def build(**overrides):
    cfg = config.resolve("shapes-unet", {"data.num_samples": 20, **overrides})
    return data.build(cfg.data, cfg.aug)


def test_scenes_follow_the_seed_and_every_instance_has_one_class():
    images, classes, instances = generate(0, "train", 30, (48, 56))
    again = generate(0, "train", 5, (48, 56))
    assert torch.equal(images[:5], again[0]) and torch.equal(instances[:5], again[2])
    assert not torch.equal(generate(1, "train", 5, (48, 56))[0], again[0])
    assert images.shape == (30, 3, 48, 56) and classes.shape == instances.shape == (30, 48, 56)
    assert torch.equal(classes == 0, instances == 0)
    for scene in range(30):
        for inst in instances[scene].unique()[1:]:
            assert len(classes[scene][instances[scene] == inst].unique()) == 1
    assert set(classes.unique().tolist()) == {0, 1, 2, 3}
    assert 0.05 < float((classes > 0).float().mean()) < 0.5
    assert images.float().std() > 30  # textured backgrounds and colourful shapes, not flat planes


def test_shapes_are_in_memory_unless_an_augmentation_runs_per_sample_only():
    plain = build()
    assert isinstance(plain.train, MemoryDataset) and len(plain.train) == 20 and len(plain.val) == 4
    assert plain.info.image_size == (64, 64) and plain.info.thing_classes == [1, 2, 3]
    assert "instance" in plain.train.extras
    rescaled = build(**{"aug.random_resize": [0.5, 0.5]})  # a size per sample: only the per-sample path does it
    assert not isinstance(rescaled.train, MemoryDataset)
    a, b = plain.train[3], rescaled.train[(3, 0)]
    assert b["image"].shape[-2:] == b["target"].shape[-2:] == b["instance"].shape[-2:] == (32, 32)
    flipped = build(**{"aug.hflip": 1.0})  # batches flip in memory, masks and instance ids alongside
    batch = next(data.Loader(flipped.train, 20, device=torch.device("cpu"), train=True).epoch(0))
    i = int((batch["index"] == 3).nonzero())
    assert torch.equal(batch["target"][i], a["target"].flip(-1)) and torch.equal(batch["instance"][i], a["instance"].flip(-1))


def test_cutmix_and_mixup_are_refused_rather_than_ignored(main, tmp_path):
    for key in ("aug.cutmix.alpha=1.0", "aug.mixup.alpha=0.2"):
        code, out, err = main("train", "shapes-unet", key, "data.num_samples=20")
        assert code == 2 and "does not do; set aug." in err and "data.name=shapes (segmentation)" in err, err
    assert not list((tmp_path / "runs").glob("*/*"))  # no run directory
