"""scikit-learn's bundled handwritten digits as tensors: the images the digits and digits-dg datasets are made of."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from ...errors import VislabError


def load_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as uint8 images [1797, 1, 8, 8] (0..16 scaled to 0..255) and int64 labels, read from the file
    scikit-learn ships them in (what ``sklearn.datasets.load_digits`` reads). The file is found without importing
    scikit-learn: that import alone costs about a second, more than the rest of `vislab eval digits`' own work."""
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise VislabError("data.name=digits: the digits ship with scikit-learn; pip install scikit-learn")
    table = np.loadtxt(path, delimiter=",")  # 64 pixel values 0..16, then the label, per row
    images = np.round(table[:, :-1].reshape(-1, 8, 8) * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(table[:, -1].astype(np.int64))
