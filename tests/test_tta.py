"""Test-time augmentation brings every view back to the input's frame before averaging."""

from __future__ import annotations

import torch

from vislab.tta import classification_tta, describe, segmentation_tta


def shifted(x):
    """A model that is not flip-symmetric: each pixel takes its left neighbour's value (0 at the left edge)."""
    return {"out": torch.nn.functional.pad(x, (1, 0))[..., :-1]}


def test_flip_average_is_the_mean_of_the_view_and_the_flipped_back_flipped_view():
    x = torch.arange(6.0).view(1, 1, 1, 6)
    out = segmentation_tta(shifted, x, flip=True, scales=[1.0])["out"]
    # plain: [0,0,1,2,3,4]; flipped input [5,4,3,2,1,0] -> [0,5,4,3,2,1] -> flipped back [1,2,3,4,5,0]
    assert out.flatten().tolist() == [0.5, 1.0, 2.0, 3.0, 4.0, 2.0]


def test_scales_come_back_at_full_resolution():
    x = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(1, 1, 16, 32).contiguous()
    out = segmentation_tta(lambda v: {"out": v * 2}, x, flip=True, scales=[0.5, 1.0, 1.5])["out"]
    assert out.shape == (1, 1, 16, 32)
    assert torch.allclose(out[..., 2:-2], 2 * x[..., 2:-2], atol=0.02)  # a ramp survives resizing away from the edges


def offsets_to_brightest(x):
    """A panoptic-like model: offsets (dy, dx) from every pixel to the brightest pixel."""
    _, _, h, w = x.shape
    peak = int(x[0, 0].flatten().argmax())
    cy, cx = divmod(peak, w)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return {"offset": torch.stack([cy - ys, cx - xs]).float()[None], "center": x[:, :1]}


def test_offsets_are_turned_and_stretched_with_the_image():
    x = torch.zeros(1, 1, 24, 32)
    x[0, 0, 6, 9] = 1.0
    plain = offsets_to_brightest(x)["offset"]
    flipped = segmentation_tta(offsets_to_brightest, x, flip=True, scales=[1.0])["offset"]
    assert torch.equal(flipped, plain)  # without negating dx the flipped view would point at column 22
    scaled = segmentation_tta(offsets_to_brightest, x, flip=False, scales=[2.0])["offset"]
    # at scale 2 the peak lands on pixel (12.5, 18.5) -> 12 or 13; back at full size within a pixel of the truth
    assert (scaled - plain).abs().max() <= 1.0


def test_classification_flip_averages_logits():
    forward = lambda v: v[:, 0, 0, :2]  # noqa: E731  the two leftmost pixels as logits
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 1, 4)
    assert classification_tta(forward, x, flip=True).tolist() == [[2.5, 2.5]]  # ([1, 2] + [4, 3]) / 2
    assert classification_tta(forward, x, flip=False).tolist() == [[1.0, 2.0]]
    assert describe(True, [1, 0.5]) == {"flip": True, "scales": [1.0, 0.5]}
