"""Tiny segmentation datasets written in their real on-disk formats (JPEG/PNG images, palette or grayscale masks)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

import numpy as np
from PIL import Image

VOC_PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128] + [64] * (3 * 251)


def scene(seed: int, size: tuple[int, int], values: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """An RGB image uint8 [H,W,3] and a mask uint8 [H,W]: a band of each value, the image brighter where the value is higher."""
    rng = np.random.default_rng(seed)
    h, w = size
    values = list(values)
    mask = np.zeros((h, w), np.uint8)
    for i, v in enumerate(values):
        mask[:, i * w // len(values) : (i + 1) * w // len(values)] = v
    image = (mask[..., None].astype(np.float32) * 0.5 + rng.uniform(0, 60, (h, w, 3))).clip(0, 255).astype(np.uint8)
    return image, mask


def write_palette_png(path: Path, mask: np.ndarray) -> None:
    im = Image.fromarray(mask)
    im.putpalette(VOC_PALETTE)
    im.save(path)


def voc_objects(mask: np.ndarray) -> np.ndarray:
    """SegmentationObject ids for a ``scene`` mask of classes 0, 1, 15: the class-1 band is instance 1, the
    class-15 band instances 2 (top half) and 3 (bottom half); background 0, and 255 where the class is 255."""
    objects = np.zeros_like(mask)
    objects[mask == 1] = 1
    top = np.arange(mask.shape[0])[:, None] < mask.shape[0] // 2
    objects[(mask == 15) & top], objects[(mask == 15) & ~top] = 2, 3
    objects[mask == 255] = 255
    return objects


def write_voc(root: Path, train: int = 4, val: int = 3, sizes: Optional[list[tuple[int, int]]] = None,
              train_aug: bool = False, objects: bool = False) -> Path:
    """ROOT/VOCdevkit/VOC2012 with JPEG images, palette PNG masks (classes 0, 1, 15 and 255 borders) and id lists;
    with ``objects``, SegmentationObject palette PNGs of instance ids too (see voc_objects)."""
    base = root / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation", *(["SegmentationObject"] if objects else [])):
        (base / sub).mkdir(parents=True, exist_ok=True)
    sizes = sizes or [(40, 48), (36, 44), (44, 40)]
    ids = [f"2007_{i:06d}" for i in range(train + val)]
    for i, name in enumerate(ids):
        image, mask = scene(i, sizes[i % len(sizes)], [0, 1, 15])
        mask[0, :] = 255
        Image.fromarray(image).save(base / "JPEGImages" / f"{name}.jpg", quality=95)
        write_palette_png(base / "SegmentationClass" / f"{name}.png", mask)
        if objects:
            write_palette_png(base / "SegmentationObject" / f"{name}.png", voc_objects(mask))
    lists = base / "ImageSets" / "Segmentation"
    (lists / "train.txt").write_text("".join(f"{n}\n" for n in ids[:train]))
    (lists / "val.txt").write_text("".join(f"{n}\n" for n in ids[train:]))
    if train_aug:
        (base / "SegmentationClassAug").mkdir(exist_ok=True)
        extra = [f"2008_{i:06d}" for i in range(2)]
        for i, name in enumerate(extra):
            image, mask = scene(100 + i, (40, 48), [0, 7])
            Image.fromarray(image).save(base / "JPEGImages" / f"{name}.jpg", quality=95)
        for name in ids + extra:
            src = base / "SegmentationClass" / f"{name}.png"
            mask = np.asarray(Image.open(src)) if src.exists() else scene(0, (40, 48), [0, 7])[1]
            Image.fromarray(mask).save(base / "SegmentationClassAug" / f"{name}.png")  # grayscale, as SBD's PNGs are
        # train_aug.txt lists every id, val ones included: vislab must leave those out.
        (lists / "train_aug.txt").write_text("".join(f"{n}\n" for n in ids + extra))
    return root


def write_pairs(folder: Path, n: int = 6, size: tuple[int, int] = (24, 32), values: Iterable[int] = (0, 255),
                gray: bool = True, image_dir: str = "images", mask_dir: str = "masks") -> Path:
    """folder/{images,masks}/NNN.png: grayscale (or RGB) images and grayscale masks holding ``values``."""
    (folder / image_dir).mkdir(parents=True, exist_ok=True)
    (folder / mask_dir).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image, mask = scene(i, size, values)
        Image.fromarray(image[..., 0] if gray else image).save(folder / image_dir / f"{i:03d}.png")
        Image.fromarray(mask).save(folder / mask_dir / f"{i:03d}.png")
    return folder


def write_ade20k(root: Path, train: int = 4, val: int = 3) -> Path:
    """ROOT/ADEChallengeData2016/{images,annotations}/{training,validation}/ADE_*.{jpg,png} as the SceneParsing
    archive lays it out: grayscale annotations holding 0 (other, ignored), 1 (wall) and 150 (flag)."""
    base = root / "ADEChallengeData2016"
    for split, prefix, n in (("training", "ADE_train", train), ("validation", "ADE_val", val)):
        (base / "images" / split).mkdir(parents=True, exist_ok=True)
        (base / "annotations" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            image, mask = scene(i, (36 + 4 * (i % 2), 44), [0, 1, 150])
            name = f"{prefix}_{i + 1:08d}"
            Image.fromarray(image).save(base / "images" / split / f"{name}.jpg", quality=95)
            Image.fromarray(mask).save(base / "annotations" / split / f"{name}.png")
    return base


def write_cityscapes(root: Path, train: int = 4, val: int = 2, size: tuple[int, int] = (32, 64)) -> Path:
    """ROOT/cityscapes/{leftImg8bit,gtFine}/{train,val}/<city>/<city>_<seq>_<frame>_*.png as the two archives
    lay them out: labelIds masks holding 7 (road, train id 0), 26 (car, 13), 4 (static, ignored) and 33
    (bicycle, 18); the colour and instance files beside them, as the archive has them."""
    base = root / "cityscapes"
    cities = {"train": ("aachen", "bochum"), "val": ("frankfurt",)}
    for split, n in (("train", train), ("val", val)):
        for i in range(n):
            city = cities[split][i % len(cities[split])]
            stem = f"{city}_{i:06d}_000019"
            image, mask = scene(i, size, [7, 26, 4, 33])
            for kind in ("leftImg8bit", "gtFine"):
                (base / kind / split / city).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(base / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png")
            Image.fromarray(mask).save(base / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png")
            Image.fromarray(np.stack([mask] * 3, -1)).save(base / "gtFine" / split / city / f"{stem}_gtFine_color.png")
            Image.fromarray(mask.astype(np.uint16) * 1000).save(  # 16-bit, as the real ones
                base / "gtFine" / split / city / f"{stem}_gtFine_instanceIds.png")
    return base


# The three exports of the COCO panoptic format: where each split's JSON, PNGs and images go, and
# what data.coco_panoptic.* must say for each (COCO's are the defaults).
PANOPTIC_LAYOUTS = {
    "coco": {"json": "annotations/panoptic_{s}2017.json", "masks": "annotations/panoptic_{s}2017",
             "images": "{s}2017", "image": "{i:012d}.jpg", "png": "{i:012d}.png"},
    "cityscapes": {"json": "gtFine/cityscapes_panoptic_{s}.json", "masks": "gtFine/cityscapes_panoptic_{s}",
                   "images": "leftImg8bit/{s}", "image": "frankfurt/frankfurt_{i:06d}_000019_leftImg8bit.png",
                   "png": "frankfurt_{i:06d}_000019_gtFine_panoptic.png"},
    "ade20k": {"json": "ade20k_panoptic_{s}.json", "masks": "ade20k_panoptic_{s}",
               "images": "images/{t}", "image": "ADE_{s}_{i:08d}.jpg", "png": "ADE_{s}_{i:08d}.png"},
}
PANOPTIC_CATEGORIES = [  # ids as Cityscapes numbers them: a stuff class and two thing classes
    {"id": 7, "name": "road", "isthing": 0, "supercategory": "flat", "color": [128, 64, 128]},
    {"id": 24, "name": "person", "isthing": 1, "supercategory": "human", "color": [220, 20, 60]},
    {"id": 26, "name": "car", "isthing": 1, "supercategory": "vehicle", "color": [0, 0, 142]},
]


def panoptic_scene(i: int, size: tuple[int, int] = (32, 48)) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """An RGB image, its segment ids [H,W] and segments_info: road (stuff) on the left half, two cars on
    the right (top, bottom), a crowd of persons in the middle rows and an unlabeled (0) first row."""
    h, w = size
    ids = np.zeros((h, w), np.int64)
    ids[1:, : w // 2] = 7  # stuff: Cityscapes numbers a stuff segment by its label id
    ids[1 : h // 2, w // 2 :] = 26001  # things: label id * 1000 + instance
    ids[h // 2 :, w // 2 :] = 26002
    ids[h // 2 - 2 : h // 2 + 2, w // 4 : 3 * w // 4] = 24000  # crowd
    segments = [{"id": 7, "category_id": 7, "iscrowd": 0}, {"id": 26001, "category_id": 26, "iscrowd": 0},
                {"id": 26002, "category_id": 26, "iscrowd": 0}, {"id": 24000, "category_id": 24, "iscrowd": 1}]
    image = (np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1) * 0.5 + 40 + i).clip(0, 255).astype(np.uint8)
    return image, ids, segments


def write_coco_panoptic(root: Path, layout: str = "coco", train: int = 3, val: int = 2) -> dict[str, str]:
    """A panoptic export in ``layout``'s real places (see PANOPTIC_LAYOUTS); returns the data.coco_panoptic.*
    overrides naming them."""
    import json

    spec = PANOPTIC_LAYOUTS[layout]
    overrides = {}
    for split, long, n in (("train", "training", train), ("val", "validation", val)):
        fmt = {"s": split, "t": long}
        images, annotations = [], []
        for i in range(n):
            image, ids, segments = panoptic_scene(i)
            name = spec["image"].format(i=i, **fmt)
            png = spec["png"].format(i=i, **fmt)
            image_path = root / spec["images"].format(**fmt) / name
            image_path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(image_path, **({"quality": 95} if name.endswith(".jpg") else {}))
            png_path = root / spec["masks"].format(**fmt) / png
            png_path.parent.mkdir(parents=True, exist_ok=True)
            rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)
            Image.fromarray(rgb).save(png_path)
            images.append({"id": i + 1, "file_name": Path(name).name, "height": ids.shape[0], "width": ids.shape[1]})
            annotations.append({"image_id": i + 1, "file_name": png, "segments_info": segments})
        json_path = root / spec["json"].format(**fmt)
        json_path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": PANOPTIC_CATEGORIES}))
        for key in ("json", "masks", "images"):
            overrides[f"data.coco_panoptic.{split}_{key}"] = spec[key].format(**fmt)
    return overrides


SHAPE_TINTS = np.array([[0, 0, 0], [230, 40, 40], [40, 200, 40], [40, 60, 230]])  # circle red, rectangle green, triangle blue


def write_shapes_pairs(folder: Path, n: int, size: tuple[int, int] = (32, 32), swapped: Iterable[int] = (),
                       first: int = 0) -> list[str]:
    """folder/{images,masks}/NNN.png: ``n`` scenes of vislab's shapes from scene ``first`` on (PNG images,
    grayscale masks of classes 0-3), each shape tinted by its class (SHAPE_TINTS) so that a model trained for
    seconds tells the classes apart; each scene in ``swapped`` with its largest shape given the next shape
    class in its mask. Returns the mislabeled images' names relative to ``folder`` (images/NNN.png)."""
    from vislab.data.sources.shapes import render

    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    swapped = set(swapped)
    for i in range(n):
        image, classes, instances = render(1000 + first + i, size)
        image = image.transpose(1, 2, 0).astype(np.int64)
        shapes = classes > 0
        image[shapes] = (image[shapes] + 2 * SHAPE_TINTS[classes[shapes]]) // 3
        if i in swapped:
            largest = instances == np.bincount(instances[instances > 0]).argmax()
            classes[largest] = classes[largest] % 3 + 1  # circle -> rectangle -> triangle -> circle
        Image.fromarray(image.astype(np.uint8)).save(folder / "images" / f"{i:03d}.png")
        Image.fromarray(classes).save(folder / "masks" / f"{i:03d}.png")
    return [f"images/{i:03d}.png" for i in sorted(swapped)]
