"""Datasets with planted problems for `vislab data check`: digits as an image folder with training images copied
into the test split, shapes as image/mask pairs with 0/255 and stray-valued masks, and a domain tree."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

SCALE = 4  # digits are 8x8: written 32x32, each pixel a 4x4 block


def write_digits_folder(root: Path, count: int | None = None, exact: int = 10, near: int = 10) -> list[tuple[str, str]]:
    """root/{train,val,test}/<digit>/<i>.png: the first ``count`` digits, split as vislab splits them (seed 0), then
    ``exact`` training images copied into test unchanged and ``near`` re-encoded as JPEG quality 75 one pixel
    wider. Returns the (train file, test file) pairs planted, relative to root."""
    from vislab.data.digits import load_arrays
    from vislab.data.splits import stratified_split

    images, labels = load_arrays()
    images, labels = images[:count].numpy()[:, 0], labels[:count].numpy()
    parts = dict(zip(("train", "val", "test"), stratified_split(labels.tolist(), 0.2, 0.2, 0)))
    names = {}
    for split, idx in parts.items():
        for i in idx:
            name = f"{split}/{labels[i]}/{i}.png"
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i]).resize((8 * SCALE, 8 * SCALE), Image.NEAREST).save(root / name)
            names.setdefault(split, []).append((i, name))
    planted = []
    for k, (i, name) in enumerate(names["train"][: exact + near]):
        im = Image.open(root / name)
        if k < exact:
            copy = f"test/{labels[i]}/copy{i}.png"
            im.save(root / copy)
        else:
            copy = f"test/{labels[i]}/copy{i}.jpg"
            buffer = io.BytesIO()
            im.resize((im.width + 1, im.height), Image.BILINEAR).save(buffer, "JPEG", quality=75)
            (root / copy).write_bytes(buffer.getvalue())
        planted.append((name, copy))
    return planted


def write_shapes_pairs(root: Path, count: int = 40, binary: tuple[int, ...] = (3, 7, 11),
                       stray: tuple[int, ...] = (5, 9), stray_value: int = 7) -> dict[str, str]:
    """root/{images,masks}/<i>.png: ``count`` shapes scenes (classes 0..3); the masks of ``binary`` saved as
    0/255 (every shape 255) and those of ``stray`` with a patch of ``stray_value``. Returns mask file -> planted
    problem."""
    from vislab.data.shapes import render

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    planted = {}
    for i in range(count):
        image, classes, _ = render(1000 + i, (48, 48))
        if i in binary:
            classes = np.where(classes > 0, 255, 0).astype(np.uint8)
            planted[f"masks/{i}.png"] = "0/255"
        elif i in stray:
            classes = classes.copy()
            classes[:4, :4] = stray_value
            planted[f"masks/{i}.png"] = "stray"
        Image.fromarray(image.transpose(1, 2, 0)).save(root / "images" / f"{i}.png")
        Image.fromarray(classes).save(root / "masks" / f"{i}.png")
    return planted
