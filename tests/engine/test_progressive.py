"""Progressive learning (EfficientNetV2's stages of image size and regularization) and CutMix/MixUp schedules:
what each epoch trains with, as numbers, set by the one call the engine makes at an epoch's start."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vislab import config, data
from vislab.config import ProgressiveConfig
from vislab.data import Loader
from vislab.data.augment import mixing
from vislab.engine.progressive import check, stage_at, start_epoch


def batch_of_constants(n: int = 8) -> dict:
    """Image i is filled with the value i, class i: a pixel tells which sample it came from."""
    image = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 16, 16).clone()
    return {"image": image, "target": torch.arange(n), "index": torch.arange(n)}


def test_stages_are_equal_shares_of_the_epochs_and_settings_linear_between_first_and_last():
    cfg = ProgressiveConfig(stages=4, image_size=[128, 224], dropout=[0.1, 0.4], magnitude=[5, 15], mixup_alpha=[0.0, 0.3])
    stages = [stage_at(cfg, epoch, 8) for epoch in range(8)]
    assert [s.index for s in stages] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert [s.image_size for s in stages[::2]] == [128, 160, 192, 224]
    assert [s.dropout for s in stages[::2]] == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert [s.magnitude for s in stages[::2]] == [5, 8, 12, 15]
    assert [s.mixup_alpha for s in stages[::2]] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert [stage_at(cfg, e, 10).index for e in range(10)] == [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]


def test_start_epoch_sets_size_dropout_and_mixup_alpha_for_in_memory_batches():
    cfg = config.resolve("digits", {"aug.mixup": {"p": 1.0}, "train.epochs": 4, "train.progressive": {
        "stages": 2, "image_size": [8, 16], "dropout": [0.1, 0.5], "mixup_alpha": [0.0, 0.4]}})
    bundle = data.build(cfg.data, cfg.aug)
    loader = Loader(bundle.train, 8, device=torch.device("cpu"), train=True, batch_transform=bundle.batch_transform)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.9), nn.LazyLinear(10))
    check(cfg, model)
    seen = []
    for epoch in range(4):
        start_epoch(cfg, epoch, model, loader)
        batch = next(loader.epoch(epoch))
        seen.append((tuple(batch["image"].shape[-2:]), model[1].p, batch["target"].ndim))
    assert seen == [((8, 8), 0.1, 1), ((8, 8), 0.1, 1), ((16, 16), 0.5, 2), ((16, 16), 0.5, 2)]  # alpha 0: unmixed


def test_magnitude_reaches_the_per_sample_randaugment():
    cfg = config.resolve("digits", {"aug.randaugment": {"magnitude": 9}, "train.progressive": {"stages": 2, "magnitude": [3, 13]}})
    bundle = data.build(cfg.data, cfg.aug)
    loader = Loader(bundle.train, 8, device=torch.device("cpu"), train=True, num_workers=0)
    policy = bundle.train.transform.transforms[0]
    start_epoch(cfg, 0, nn.Identity(), loader)
    assert policy.magnitude == 3
    start_epoch(cfg, cfg.train.epochs - 1, nn.Identity(), loader)
    assert policy.magnitude == 13


def test_mix_off_epoch_leaves_later_epochs_unmixed():
    cfg = config.resolve("digits", {"aug.cutmix": {"p": 1.0}, "aug.mix_off_epoch": 3})
    bundle = data.build(cfg.data, cfg.aug)
    loader = Loader(bundle.train, 8, device=torch.device("cpu"), train=True, batch_transform=bundle.batch_transform)
    kinds = []
    for epoch in range(4):
        start_epoch(cfg, epoch, nn.Identity(), loader)
        kinds.append(next(loader.epoch(epoch))["target"].ndim)
    assert kinds == [2, 2, 1, 1]  # epochs 1 and 2 (as in metrics.csv) mixed, soft targets; 3 and 4 class ids


@pytest.mark.parametrize("switch_p, cutmix_share", [(1.0, 1.0), (0.0, 0.0), (0.5, 0.5)])
def test_mix_switch_p_is_the_share_of_batches_given_to_cutmix(switch_p, cutmix_share):
    aug = config.resolve("digits", {"aug.cutmix": {"p": 1.0}, "aug.mixup": {"p": 1.0}, "aug.mix_switch_p": switch_p}).aug
    mix = mixing.mix_transform(aug, 8)
    cut = 0
    for seed in range(200):
        out = mix(batch_of_constants(), torch.Generator().manual_seed(seed))
        cut += bool(torch.isin(out["image"][3], torch.tensor([2.0, 3.0])).all())  # CutMix pastes whole pixels
    assert cut / 200 == pytest.approx(cutmix_share, abs=0.08)


@pytest.mark.parametrize("args, phrase", [
    (["aug.mix_switch_p=0.8", "aug.cutmix={}"], "aug.mix_switch_p chooses between CutMix and MixUp"),
    (["aug.mix_off_epoch=3"], "aug.mix_off_epoch stops CutMix/MixUp, and neither is on"),
    (["train.progressive={magnitude: [3, 9]}"], "train.progressive.magnitude schedules aug.randaugment, which is off"),
    (["train.progressive={dropout: [0.1, 0.3]}", "model.name=resnet18"], "train.progressive.dropout: ResNet has no dropout layer"),
    # cnn-mnist's classifier is sized for 8x8 digits: other sizes once crashed in its first stage
    (["train.progressive={image_size: [6, 8]}"], "train.progressive.image_size: model.name=cnn-mnist takes images of one size"),
])
def test_schedules_that_cannot_apply_are_refused(main, tmp_path, args, phrase):
    code, _, err = main("train", "digits", "train.epochs=1", "train.progress=false", *args)
    assert code == 2 and phrase in err, err
    assert not list((tmp_path / "runs").glob("*/*"))


@pytest.mark.slow
def test_a_run_stopped_mid_stage_resumes_into_the_same_stage_bit_identically(tmp_path):
    import vislab
    from vislab.engine.checkpoint import load_checkpoint

    keys = {"train.epochs": 4, "train.progress": False, "data.limit": 48, "train.batch_size": 16, "train.deterministic": True,
            "aug.mixup": {"p": 1.0}, "train.progressive": {"stages": 2, "dropout": [0.1, 0.6], "mixup_alpha": [0.0, 0.4]}}
    whole = vislab.train("digits", runs_dir=tmp_path / "whole", **keys)
    stopped = vislab.train("digits", runs_dir=tmp_path / "parts", on_epoch=lambda row: "stopped" if row["epoch"] == 1 else None, **keys)
    assert len(stopped.history) == 1  # epoch 2 of 4 is the second half of stage 1 of 2
    resumed = vislab.train(resume=stopped.dir)
    timing = ("seconds", "images_per_s")
    assert [{k: v for k, v in row.items() if k not in timing} for row in resumed.history] == \
        [{k: v for k, v in row.items() if k not in timing} for row in whole.history]
    a, b = (load_checkpoint(r.checkpoint_path("last"))["model"] for r in (whole, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
