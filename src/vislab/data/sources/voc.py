"""PASCAL VOC 2012 segmentation in torchvision's layout: 21 classes, 255 ignored, train (or the SBD-augmented
train_aug) and val.

    ROOT/VOCdevkit/VOC2012/JPEGImages/*.jpg
    ROOT/VOCdevkit/VOC2012/SegmentationClass/*.png          palette PNGs, read as class indices
    ROOT/VOCdevkit/VOC2012/SegmentationObject/*.png         palette PNGs of instance ids (panoptic; train only)
    ROOT/VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val}.txt
    ROOT/VOCdevkit/VOC2012/SegmentationClassAug/*.png       train_aug only (SBD, converted to PNG)
    ROOT/VOCdevkit/VOC2012/ImageSets/Segmentation/train_aug.txt
"""

from __future__ import annotations

from pathlib import Path

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..augment.per_sample import build_transform
from ..bundle import DataBundle, DataInfo
from ..families.per_pixel import MaskValues, SegmentationFiles, augmented_train, relative_names
from ..files.download import RemoteFile, fetch, safe_extract
from ..files.stats import IMAGENET_MEAN, IMAGENET_STD
from ..loading.splits import data_root, limited

CLASSES = [
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
]
TRAINVAL = RemoteFile(
    "VOCtrainval_11-May-2012.tar",
    urls=["http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar"],
    md5="6cd6e144f989b92b3379bac3b3de84fd",
)
WHERE = "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/"
SBD_WHERE = (
    "the SBD masks converted to PNG (SegmentationClassAug, as DeepLab distributes them; SBD itself is at "
    "http://home.bharathh.info/pubs/codes/SBD/download.html)"
)


def voc_dir(root: Path) -> Path:
    return root / "VOCdevkit" / "VOC2012"


def _needed(base: Path, image_set: str) -> list[Path]:
    lists = base / "ImageSets" / "Segmentation"
    if image_set == "train_aug":
        return [base / "JPEGImages", base / "SegmentationClass", base / "SegmentationClassAug", lists / "train_aug.txt", lists / "val.txt"]
    return [base / "JPEGImages", base / "SegmentationClass", lists / "train.txt", lists / "val.txt"]


def ensure(root: Path, cfg: DataConfig) -> Path:
    """VOC2012 under ``root``, downloaded and extracted when absent (and allowed); else bad input naming the files."""
    if cfg.image_set not in ("train", "train_aug"):
        raise VislabError(f"data.image_set='{cfg.image_set}': VOC trains on train or train_aug")
    base = voc_dir(root)
    if not all(p.exists() for p in _needed(base, "train")):
        archive = fetch(TRAINVAL, root, cfg.download, WHERE)
        safe_extract(archive, root)
    missing = [p for p in _needed(base, cfg.image_set) if not p.exists()]
    if missing and cfg.image_set == "train_aug":
        raise VislabError(
            f"data.image_set=train_aug needs {', '.join(str(p) for p in missing)}: get {SBD_WHERE} with its "
            f"train_aug.txt and put them there, or use data.image_set=train"
        )
    if missing:
        raise VislabError(f"VOC 2012 is incomplete under {root}: {missing[0]} is missing; delete {base} to extract it again")
    return base


def _ids(path: Path) -> list[str]:
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def _pairs(base: Path, ids: list[str], masks: str) -> list[tuple[Path, Path]]:
    return [(base / "JPEGImages" / f"{i}.jpg", base / masks / f"{i}.png") for i in ids]


def _instances(base: Path, pairs: list[tuple[Path, Path]], wanted: bool) -> list[Path] | None:
    """Each image's SegmentationObject PNG; a missing one is bad input (VOC has one per segmentation image)."""
    if not wanted:
        return None
    paths = [base / "SegmentationObject" / f"{image.stem}.png" for image, _ in pairs]
    missing = next((p for p in paths if not p.is_file()), None)
    if missing is not None:
        raise VislabError(f"VOC 2012 is incomplete: {missing} is missing; delete {base} to extract it again")
    return paths


READS = ("root", "download", "image_set", "repeat", "limit")  # its own val split; masks use 255 for ignore  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    """VOC 2012 train (or train_aug, without any val image) and val; no test split (its masks are not public)."""
    root = data_root(cfg.root)
    base = ensure(root, cfg)
    lists = base / "ImageSets" / "Segmentation"
    val_ids = _ids(lists / "val.txt")
    if cfg.image_set == "train_aug":
        held_out = set(val_ids)
        train = _pairs(base, [i for i in _ids(lists / "train_aug.txt") if i not in held_out], "SegmentationClassAug")
    else:
        train = _pairs(base, _ids(lists / "train.txt"), "SegmentationClass")
    val = _pairs(base, val_ids, "SegmentationClass")
    train, val = list(limited(train, cfg.limit)), list(limited(val, cfg.limit))
    values = MaskValues(len(CLASSES), 255)
    # SBD's extra images have no SegmentationObject PNGs: instance ids (and panoptic training) come with train only
    with_instances = cfg.image_set == "train" and (base / "SegmentationObject").is_dir()
    info = DataInfo(
        task="segmentation", num_classes=len(CLASSES), class_names=list(CLASSES), channels=3,
        mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), ignore_index=255,
        thing_classes=list(range(1, len(CLASSES))) if with_instances else None,
    )
    eval_transform = build_transform(aug, train=False, ignore_index=255)
    return DataBundle(
        train=augmented_train(SegmentationFiles(train, 3, values, instances=_instances(base, train, with_instances)), cfg, aug),
        val=SegmentationFiles(val, 3, values, eval_transform, instances=_instances(base, val, with_instances)),
        test=None,
        info=info,
        files={"train": relative_names(train, root), "val": relative_names(val, root)},
    )


def status(root: Path) -> tuple[str, bool]:
    base = voc_dir(root)
    what = f"{base} from {TRAINVAL.name} (2 GB, {WHERE}; downloaded on first use)"
    return what, all(p.exists() for p in _needed(base, "train"))
