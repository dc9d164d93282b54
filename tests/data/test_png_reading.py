"""PNG files decoded by libpng (through torchvision) give the pixels PIL gives, for every kind of PNG a
dataset may hold; what the fast path does not take, PIL still reads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vislab.data.files.images import read_image, read_png, read_with_pil


def kinds() -> dict[str, Image.Image]:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (7, 9, 3), dtype=np.uint8), "RGB")
    gray = Image.fromarray(rng.integers(0, 256, (7, 9), dtype=np.uint8), "L")
    return {
        "L": gray, "1-bit": gray.point(lambda v: 255 * (v > 127)).convert("1"), "LA": gray.convert("LA"),
        "RGB": rgb, "RGBA": Image.fromarray(rng.integers(0, 256, (7, 9, 4), dtype=np.uint8), "RGBA"),
        "P": rgb.quantize(16), "I;16": Image.fromarray(rng.integers(0, 65536, (7, 9), dtype=np.uint16)),
    }


@pytest.mark.parametrize("kind", list(kinds()))
@pytest.mark.parametrize("mode", [None, "L", "RGB"])
def test_png_pixels_match_pil(tmp_path, kind, mode):
    path = tmp_path / "x.png"
    kinds()[kind].save(path)
    got, expected = read_image(path, mode), read_with_pil(path, mode)
    assert got.dtype == torch.uint8 and got.shape == expected.shape and torch.equal(got, expected)


def test_gray_with_a_transparent_value_matches_pil(tmp_path):
    path = tmp_path / "x.png"
    kinds()["L"].save(path, transparency=17)
    for mode in (None, "L", "RGB"):
        assert torch.equal(read_image(path, mode), read_with_pil(path, mode))


def test_the_fast_path_takes_gray_and_colour_and_leaves_the_rest_to_pil(tmp_path):
    taken = {}
    for kind, image in kinds().items():
        image.save(tmp_path / f"{kind}.png")
        taken[kind] = [read_png(tmp_path / f"{kind}.png", mode) is not None for mode in (None, "L", "RGB")]
    assert taken["L"] == taken["1-bit"] == taken["LA"] == [True, True, True]
    assert taken["RGB"] == taken["RGBA"] == [True, False, True]  # colour to gray: PIL's weights
    assert taken["P"] == taken["I;16"] == [False, False, False]  # palettes; 16 bits, scaled by eight_bit
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + b"\0" * 40)
    assert read_png(tmp_path / "bad.png", None) is None  # a damaged file: PIL says what is wrong
