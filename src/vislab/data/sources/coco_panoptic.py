"""Panoptic data in the COCO panoptic format, the one COCO, Cityscapes (cityscapesScripts'
createPanopticImgs) and ADE20K (detectron2's prepare_ade20k_pan_seg) are exported to. Per split:

    a JSON: "images" (id, file_name), "annotations" (image_id, file_name of its PNG, segments_info: id,
            category_id, iscrowd), "categories" (id, name, isthing)
    a folder of PNGs: each pixel's segment id is R + 256 G + 256^2 B (0: unlabeled)
    a folder of images, found below it by file name (Cityscapes keeps them in city folders)

The paths are ``data.coco_panoptic.*`` under ``data.root`` (COCO 2017's by default). Classes are the
categories in the JSON's order, things those with ``isthing``; a pixel takes its segment's class, and a
thing segment's pixels an instance id of their own (1, 2, ... per image). Unlabeled pixels and crowd
segments are ignored (255, no instance), as COCO's panoptic evaluation ignores crowd regions.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torchvision import tv_tensors

from ...config import AugConfig, DataConfig
from ...config.schema import CocoPanopticConfig
from ...errors import VislabError
from ..bundle import DataBundle, DataInfo
from ..datasets import SampleDataset
from ..families.annotated_trees import CHECKED_PER_SPLIT
from ..families.per_pixel import image_size, load_image, pad_collate, split_bundle
from ..files.images import is_image_file
from ..files.stats import IMAGENET_MEAN, IMAGENET_STD
from ..loading.splits import limited, user_folder

IGNORE = 255
KEY = "data.coco_panoptic"

Segments = tuple[tuple[int, int], ...]  # (segment id, class id, or IGNORE for a crowd segment)
Item = tuple[Path, Path, Segments]  # image, its PNG, its segments


def segment_ids(path: Path) -> np.ndarray:
    """A panoptic PNG's segment ids [H, W] (int64): R + 256 G + 256^2 B."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=np.int64)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise VislabError(f"cannot read panoptic PNG {path}: {e}") from None
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def target_maps(ids: np.ndarray, segments: Segments, things: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Class ids uint8 [H, W] (IGNORE where unlabeled or crowd) and instance ids int32 [H, W] (1.. on
    thing segments, 0 elsewhere) from segment ids [H, W] and their (segment id, class id) list."""
    classes = np.full(ids.shape, IGNORE, np.uint8)
    instances = np.zeros(ids.shape, np.int32)
    next_instance = 1
    for segment, cls in segments:
        where = ids == segment
        classes[where] = cls
        if cls != IGNORE and cls in things:
            instances[where] = next_instance
            next_instance += 1
    return torch.from_numpy(classes), torch.from_numpy(instances)


class CocoPanopticFiles(SampleDataset):
    """A split of (image, panoptic PNG, segments) items: ``target`` class ids [H,W] and ``instance`` ids [H,W]."""

    def __init__(self, items: list[Item], transform: Optional[Callable] = None, *, things: tuple[int, ...]) -> None:
        self.items = items
        self.transform = transform
        self.things = things
        self.collate = functools.partial(pad_collate, ignore_index=IGNORE)

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int) -> dict:
        image, png, segments = self.items[index]
        classes, instances = target_maps(segment_ids(png), segments, self.things)
        return {"image": tv_tensors.Image(load_image(image, 3)), "target": tv_tensors.Mask(classes),
                "instance": tv_tensors.Mask(instances)}


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise VislabError(f"{path} does not exist: set {KEY}.*_json to the split's panoptic JSON (under data.root)")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VislabError(f"{path} is not readable JSON ({e}); export it again") from None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data, dict) or k not in data]
    if missing:
        raise VislabError(f"{path} has no '{missing[0]}': it is not a COCO panoptic JSON (images, annotations, categories)")
    return data


def categories(data: dict, path: Path) -> tuple[list[str], dict[int, int], list[int]]:
    """(class names, category id -> class id, thing class ids) from the JSON's categories, in their order."""
    try:
        cats = [(int(c["id"]), str(c["name"]), bool(c["isthing"])) for c in data["categories"]]
    except (KeyError, TypeError, ValueError) as e:
        raise VislabError(f"{path}: a category lacks id, name or isthing ({e})") from None
    if not cats or len(cats) >= IGNORE:
        raise VislabError(f"{path} has {len(cats)} categories; vislab takes 1 to {IGNORE - 1}")
    return [n for _, n, _ in cats], {c: i for i, (c, _, _) in enumerate(cats)}, [i for i, (_, _, t) in enumerate(cats) if t]


def image_index(folder: Path) -> dict[str, Path]:
    """Every image file below ``folder`` by its name (COCO: flat; Cityscapes: city folders)."""
    if not folder.is_dir():
        raise VislabError(f"{folder} does not exist: set {KEY}.*_images to the split's image folder (under data.root)")
    return {p.name: p for p in sorted(folder.rglob("*")) if p.is_file() and is_image_file(p)}


def list_split(root: Path, json_path: str, masks: str, images: str, cats: Optional[dict] = None) -> tuple[dict, list[Item]]:
    """The split's JSON and items; every annotation must name an image and a PNG that exist."""
    path = root / json_path
    data = read_json(path)
    names, to_class, things = categories(data, path)
    if cats is not None and names != cats["names"]:
        raise VislabError(f"{path} has other categories than the training JSON; both splits need the same")
    try:
        files = {int(im["id"]): str(im["file_name"]) for im in data["images"]}
    except (KeyError, TypeError, ValueError):
        raise VislabError(f"{path}: an entry of 'images' lacks an id or file_name; export it again") from None
    found = image_index(root / images)
    items: list[Item] = []
    for number, ann in enumerate(data["annotations"], start=1):
        for key in ("image_id", "file_name"):
            if not isinstance(ann, dict) or key not in ann:
                raise VislabError(f"{path}: annotation {number} has no {key}; export it again")
        name = files.get(int(ann["image_id"]))
        if name is None:
            raise VislabError(f"{path}: annotation {ann['file_name']} names image_id {ann['image_id']}, which 'images' lacks")
        if "segments_info" not in ann:
            raise VislabError(f"{path}: the annotation of image {name} has no segments_info; export it again")
        image = found.get(Path(name).name)
        if image is None:
            raise VislabError(f"image {name} of {path} is not in {root / images} (nor below it); {KEY}.*_images names the folder")
        png = root / masks / str(ann["file_name"])
        if not png.is_file():
            raise VislabError(f"panoptic PNG {png} of image {name} is missing; {KEY}.*_masks names the folder of the PNGs")
        items.append((image, png, segments_of(ann["segments_info"], to_class, path, name)))
    if not items:
        raise VislabError(f"{path} annotates no image")
    return {"names": names, "things": things}, items


def segments_of(info: list, to_class: dict[int, int], path: Path, name: str) -> Segments:
    """(segment id, class id or IGNORE for a crowd) of an annotation's segments_info; a segment without an id or
    category_id, or of a category the JSON lacks, is bad input naming the JSON and the image."""
    segments = []
    for s in info:
        lacking = [k for k in ("id", "category_id") if not isinstance(s, dict) or k not in s]
        if lacking:
            raise VislabError(f"{path}: a segment of image {name} has no {lacking[0]}; export it again")
        if int(s["category_id"]) not in to_class:
            raise VislabError(f"{path}: a segment of image {name} has category_id {s['category_id']}, which 'categories' "
                              f"lacks (it has {', '.join(map(str, to_class))})")
        segments.append((int(s["id"]), IGNORE if s.get("iscrowd") else to_class[int(s["category_id"])]))
    return tuple(segments)


def check_items(items: list[Item]) -> None:
    """The first PNGs of a split: of their image's size, with only the segment ids their segments_info lists."""
    for image, png, segments in items[:CHECKED_PER_SPLIT]:
        ids = segment_ids(png)
        if tuple(ids.shape) != image_size(image):
            raise VislabError(f"panoptic PNG {png} is {ids.shape[0]}x{ids.shape[1]} but its image {image} is {'x'.join(map(str, image_size(image)))}")
        unknown = sorted(set(np.unique(ids).tolist()) - {s for s, _ in segments} - {0})
        if unknown:
            raise VislabError(f"panoptic PNG {png} holds segment ids {', '.join(map(str, unknown[:5]))} that its segments_info lacks")


READS = ("root", "limit", "repeat", "coco_panoptic")  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    root = user_folder(cfg.name, cfg.root, "the folder under which data.coco_panoptic.* name the JSONs, PNGs and images")
    paths: CocoPanopticConfig = cfg.coco_panoptic
    cats, train = list_split(root, paths.train_json, paths.train_masks, paths.train_images)
    _, val = list_split(root, paths.val_json, paths.val_masks, paths.val_images, cats)
    splits = {"train": list(limited(train, cfg.limit)), "val": list(limited(val, cfg.limit))}
    for items in splits.values():
        check_items(items)
    info = DataInfo(task="segmentation", num_classes=len(cats["names"]), class_names=cats["names"], channels=3,
                    mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), ignore_index=IGNORE, thing_classes=cats["things"])
    make = functools.partial(CocoPanopticFiles, things=tuple(cats["things"]))
    return split_bundle(cfg, aug, splits, make, info, root)


def status(root: Path) -> tuple[str, Optional[bool]]:
    """None: the user names the folder."""
    return (f"your COCO-format panoptic export: data.root=PATH holding each split's JSON, segment-id PNGs and "
            f"images ({KEY}.*; COCO 2017's names by default)"), None

