"""Image files as vislab reads them: 16-bit grayscale images scaled to 8 bits, masks with their true values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vislab.data.files.images import read_image
from vislab.data.families.per_pixel import read_instances, read_mask


@pytest.mark.parametrize("mode", ["L", "RGB", None])
def test_a_16_bit_image_is_scaled_not_clipped_to_white(tmp_path: Path, mode):
    ramp = np.linspace(0, 65535, 64 * 64).round().astype(np.uint16).reshape(64, 64)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    image = read_image(tmp_path / "ramp.png", mode)
    assert image.dtype.is_floating_point is False and image.shape[1:] == (64, 64)
    expected = np.round(ramp / 257).astype(np.uint8)  # 0..65535 -> 0..255
    assert np.array_equal(image[0].numpy(), expected)
    assert float((image == 255).float().mean()) < 0.01


def test_a_16_bit_mask_keeps_its_values(tmp_path: Path):
    ids = np.zeros((16, 16), np.uint16)
    ids[2:6], ids[8:] = 3, 1000
    Image.fromarray(ids).save(tmp_path / "mask.png")
    assert sorted(np.unique(read_mask(tmp_path / "mask.png")).tolist()) == [0, 3, 1000]
    assert sorted(read_instances(tmp_path / "mask.png").unique().tolist()) == [0, 3, 1000]
