"""CutMix and MixUp: soft targets that say how much of each image a mixed sample holds."""

from __future__ import annotations

import torch

from vislab.config import resolve
from vislab.data.augment.mixing import mix_transform


def batch_of_constants(n: int = 8) -> dict:
    """Image i is filled with the value i, class i: a pixel tells which sample it came from."""
    image = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 16, 16).clone()
    return {"image": image, "target": torch.arange(n), "index": torch.arange(n)}


def mixer(**keys):
    aug = resolve("digits", {f"aug.{k}": v for k, v in keys.items()}).aug
    return mix_transform(aug, num_classes=8)


def test_cutmix_targets_match_the_pasted_area():
    mixed = [mixer(cutmix={"p": 1.0, "alpha": 1.0})(batch_of_constants(), torch.Generator().manual_seed(s)) for s in range(5)]
    for out in mixed:
        target = out["target"]
        assert target.shape == (8, 8) and torch.allclose(target.sum(1), torch.ones(8))
        for i in range(8):
            own = (out["image"][i, 0] == i).float().mean()
            assert torch.isclose(target[i, i], own) and torch.isclose(target[i, (i - 1) % 8], 1 - own)
    assert len({round(float(out["target"][0, 0]), 4) for out in mixed}) > 1  # the area varies from batch to batch


def test_mixup_blends_images_and_targets_alike():
    out = mixer(mixup={"p": 1.0, "alpha": 0.4})(batch_of_constants(), torch.Generator().manual_seed(0))
    lam = out["target"][3, 3]
    assert torch.allclose(out["image"][3], lam * 3 + (1 - lam) * 2 * torch.ones(3, 16, 16))


def test_probability_zero_and_switched_off_leave_batches_alone():
    batch = batch_of_constants()
    out = mixer(cutmix={"p": 0.0}, mixup={"p": 0.0})(batch, torch.Generator().manual_seed(0))
    assert torch.equal(out["target"], batch["target"]) and torch.equal(out["image"], batch["image"])
    assert mixer() is None
