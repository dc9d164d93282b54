"""COCO panoptic format (Kirillov et al.; cocodataset/panopticapi): one RGB PNG per image whose pixel value
id = R + 256 G + 256^2 B names a segment (0: void), and a JSON with each image's ``segments_info``
(id, category_id, area, bbox, iscrowd) and the ``categories`` (id, name, isthing).

vislab's panoptic maps are (classes [H,W], ``ignore_index`` where void; instance ids [H,W], 0 on stuff);
class c is category c + 1 (COCO numbers categories from 1), and segments are numbered 1.. per image.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ...atomic import atomic_write_text


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
    """Segment ids [H, W] -> uint8 [H, W, 3] with id = R + 256 G + 256^2 B."""
    ids = np.asarray(ids, dtype=np.uint32)
    return np.stack([ids % 256, ids // 256 % 256, ids // 256**2 % 256], -1).astype(np.uint8)


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] -> segment ids [H, W] (uint32)."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256**2 * rgb[..., 2]


def segments(classes: np.ndarray, instances: np.ndarray, ignore_index: int) -> tuple[np.ndarray, list[dict]]:
    """Segment ids [H, W] (0 on void) and their ``segments_info`` from one image's panoptic maps [H, W]:
    one segment per (class, instance) pair, numbered from 1 in (class, instance) order."""
    classes, instances = np.asarray(classes, dtype=np.int64), np.asarray(instances, dtype=np.int64)
    valid = classes != ignore_index
    big = int(instances.max(initial=0)) + 1
    keys, inverse = np.unique(np.where(valid, classes * big + instances, -1), return_inverse=True)
    inverse = inverse.reshape(classes.shape)
    offset = 1 if keys[0] >= 0 else 0  # key -1 (void) sorts first and becomes id 0
    ids = (inverse + offset).astype(np.uint32)
    info = []
    for n, key in enumerate(keys):
        if key < 0:
            continue
        seg_id = n + offset
        ys, xs = np.nonzero(ids == seg_id)
        x0, y0 = int(xs.min()), int(ys.min())
        info.append({"id": int(seg_id), "category_id": int(key // big) + 1, "area": int(len(ys)),
                     "bbox": [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1], "iscrowd": 0})
    return ids, info


class PanopticExport:
    """Writes one side (predictions or ground truth) of a COCO panoptic dataset: DIR/<name>/<image>.png and
    DIR/<name>.json, the layout panopticapi's pq_compute reads by default."""

    def __init__(self, out: Path, name: str, class_names: Sequence[str], things: Sequence[int], ignore_index: int) -> None:
        self.json_path = Path(out) / f"{name}.json"
        self.folder = Path(out) / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ignore_index = ignore_index
        self.categories = [{"id": i + 1, "name": n, "isthing": int(i in things), "supercategory": "thing" if i in things else "stuff"}
                           for i, n in enumerate(class_names)]
        self.images: list[dict] = []
        self.annotations: list[dict] = []

    def add(self, image_id: int, classes: np.ndarray, instances: np.ndarray) -> None:
        """One image's panoptic maps [H, W]: its PNG now, its segments_info in the JSON at ``close``."""
        from PIL import Image

        ids, info = segments(classes, instances, self.ignore_index)
        file_name = f"{image_id:08d}.png"
        Image.fromarray(id_to_rgb(ids)).save(self.folder / file_name)
        self.images.append({"id": image_id, "file_name": file_name, "height": int(ids.shape[0]), "width": int(ids.shape[1])})
        self.annotations.append({"image_id": image_id, "file_name": file_name, "segments_info": info})

    def close(self) -> Path:
        """Write the JSON; returns its path."""
        doc = {"info": {"description": "vislab panoptic export"}, "images": self.images,
               "annotations": self.annotations, "categories": self.categories}
        atomic_write_text(self.json_path, json.dumps(doc) + "\n")
        return self.json_path
