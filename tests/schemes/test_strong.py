"""The strong view: seeded, in range, Cutout as FixMatch draws it, normalization undone and redone."""

from __future__ import annotations

import torch

from vislab.schemes.strong import cutout, rand_augment, strong_view


def test_strong_view_is_a_function_of_the_generator_and_stays_in_range() -> None:
    x = torch.rand(32, 3, 16, 16)
    a = rand_augment(x, torch.Generator().manual_seed(5), ops=2, cutout_share=0.5)
    b = rand_augment(x, torch.Generator().manual_seed(5), ops=2, cutout_share=0.5)
    c = rand_augment(x, torch.Generator().manual_seed(6), ops=2, cutout_share=0.5)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    changed = (a - x).abs().flatten(1).amax(1) > 1e-4
    assert changed.float().mean() > 0.8  # nearly every image is altered (identity twice, or a zero-size cutout, is rare)


def test_cutout_fills_one_gray_square() -> None:
    x = torch.zeros(64, 1, 20, 20)
    out = cutout(x, 0.5, torch.Generator().manual_seed(0))
    gray = (out == 0.5)[:, 0]
    assert gray.flatten(1).sum(1).max() <= 11 * 11  # side at most half of 20 pixels, plus rounding
    rows, cols = gray.any(2).sum(1), gray.any(1).sum(1)
    assert torch.equal(gray.flatten(1).sum(1), rows * cols)  # a rectangle: its area is its rows times its columns


def test_no_ops_and_no_cutout_leaves_normalized_images_unchanged() -> None:
    mean, std = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    raw = torch.rand(4, 3, 8, 8)
    normalized = (raw - mean) / std
    out = strong_view(normalized, mean, std, torch.Generator().manual_seed(0), ops=0, cutout_share=0.0)
    assert torch.allclose(out, normalized, atol=1e-6)


def test_photometric_only_keeps_constant_regions_constant() -> None:
    # Segmentation's strong view must not move pixels: a two-region image keeps its regions.
    x = torch.zeros(16, 3, 12, 12)
    x[:, :, :, 6:] = 0.8
    out = rand_augment(x, torch.Generator().manual_seed(2), ops=3, cutout_share=0.0, geometric=False)
    left, right = out[:, :, 1:-1, 1:4], out[:, :, 1:-1, 8:-1]  # away from the edge the sharpness kernel sees
    assert torch.allclose(left, left[:, :, :1, :1].expand_as(left), atol=1e-5)
    assert torch.allclose(right, right[:, :, :1, :1].expand_as(right), atol=1e-5)
