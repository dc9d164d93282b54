"""Figures: confusion colours and numbers agree, titles wrap, legends, a palette visible on any photo."""

from __future__ import annotations

import numpy as np
from PIL import Image

from vislab.viz import class_legend, class_palette, confusion_shares, overlay, save_grid


def test_confusion_numbers_are_the_shares_the_colours_show():
    shares, texts = confusion_shares(np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]]))
    assert shares.tolist() == [[0.75, 0.25, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    assert texts == [["0.75", "0.25", ""], ["", "1.00", ""], ["", "", ""]]


def test_every_class_stays_visible_over_black_grey_and_white():
    for background in (0, 128, 255):
        image = np.full((1, 254, 3), background, dtype=np.uint8)
        classes = np.arange(1, 255)[None]
        change = np.abs(overlay(image, classes).astype(int) - image).max(-1)
        assert change.min() >= 60, f"class {int(classes[0, change.argmin()])} barely shows over {background}"
    assert class_palette()[0].tolist() == [0, 0, 0]


def test_long_titles_wrap_and_a_legend_adds_a_row(tmp_path):
    images = [np.zeros((8, 8, 3), dtype=np.uint8)] * 2
    short = Image.open(save_grid(tmp_path / "a.png", images, ["a", "b"], cell=1.0))
    long = Image.open(save_grid(tmp_path / "b.png", images, ["true airplane, predicted automobile, p=0.28", "b"], cell=1.0))
    assert long.height > short.height  # the long title took a second line instead of being cut
    legend = Image.open(save_grid(tmp_path / "c.png", images, ["a", "b"], cell=1.0, legend=class_legend(["sky", "road"], 255)))
    assert legend.height > short.height
    assert tuple(np.array(legend)[-12, 8]) == tuple(class_palette()[0])  # the first swatch, in class 0's colour
