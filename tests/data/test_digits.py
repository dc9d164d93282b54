"""The embedded digits: the same images and labels as scikit-learn's loader, read without importing scikit-learn."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from conftest import SRC
from vislab.data.files.embedded import load_arrays


def test_the_digits_are_scikit_learns() -> None:
    from sklearn.datasets import load_digits

    images, labels = load_arrays()
    reference = load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype.is_floating_point is False
    assert np.array_equal(images[:, 0].numpy(), np.round(reference.images * (255.0 / 16.0)).astype(np.uint8))
    assert np.array_equal(labels.numpy(), reference.target)


def test_reading_them_leaves_scikit_learn_unimported() -> None:
    code = "import sys; from vislab.data.files.embedded import load_arrays; load_arrays(); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(SRC)},
                         check=True).stdout
    assert out.strip() == "False"
