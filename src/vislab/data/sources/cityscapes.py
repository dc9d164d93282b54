"""Cityscapes (Cordts et al., CVPR 2016), fine annotations: 2,975 training and 500 validation street
scenes of 2048x1024, 19 classes, as its two archives lay them out under ``<data root>/cityscapes``:

    leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png       from leftImg8bit_trainvaltest.zip
    gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png        from gtFine_trainvaltest.zip

Its licence needs a login to download, so there is no download: the two zips put in that folder are
extracted, or their extracted folders used as they are. The labelIds (0..33) map to the 19 train ids of
cityscapesScripts' labels.py; every other id (void, and the classes not evaluated) is ignored (255).
"""

from __future__ import annotations

from pathlib import Path

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..bundle import DataBundle
from ..families.annotated_trees import annotated_bundle
from ..families.per_pixel import MaskValues
from ..files.download import safe_extract
from ..loading.splits import data_root

FOLDER = "cityscapes"
PAGE = "https://www.cityscapes-dataset.com/downloads/"
ARCHIVES = {"leftImg8bit": "leftImg8bit_trainvaltest.zip", "gtFine": "gtFine_trainvaltest.zip"}
SPLITS = ("train", "val")
# labelId -> trainId for the 19 evaluated classes (cityscapesScripts, helpers/labels.py)
TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
             26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
           "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
LABEL_IDS = 34  # 0..33; license plate (-1) is stored as 255, the ignore index


def needed(base: Path) -> list[Path]:
    return [base / kind / split for kind in ARCHIVES for split in SPLITS]


def how_to_get(base: Path) -> str:
    return (f"Cityscapes needs a login to download: get {' and '.join(ARCHIVES.values())} from {PAGE} "
            f"and put them (or their folders {', '.join(ARCHIVES)}) in {base}/")


def ensure(cfg: DataConfig) -> Path:
    """The Cityscapes folder, its zips extracted when their folders are not there yet."""
    base = data_root(cfg.root) / FOLDER
    for kind, archive in ARCHIVES.items():
        if not all((base / kind / s).is_dir() for s in SPLITS) and (base / archive).is_file():
            safe_extract(base / archive, base)
    missing = [p for p in needed(base) if not p.is_dir()]
    if missing:
        state = "is absent" if len(missing) == len(needed(base)) else f"lacks {missing[0].relative_to(base)}"
        raise VislabError(f"{base} {state}. {how_to_get(base)}")
    return base


READS = ("root", "limit", "repeat")  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    base = ensure(cfg)
    folders = {split: (base / "leftImg8bit" / split, base / "gtFine" / split) for split in SPLITS}
    values = MaskValues(len(CLASSES), 255, {i: TRAIN_IDS.get(i, 255) for i in range(LABEL_IDS)})
    redo = f"Cityscapes under {base} is incomplete: extract {' and '.join(ARCHIVES.values())} again"
    what = "Cityscapes labelIds (0..33); are these the _gtFine_labelIds.png files?"
    return annotated_bundle(cfg, aug, base, folders, ("_leftImg8bit.png", "_gtFine_labelIds.png"), CLASSES, values, what, redo)


def status(root: Path) -> tuple[str, bool]:
    base = root / FOLDER
    present = all(p.is_dir() for p in needed(base)) or all((base / a).is_file() for a in ARCHIVES.values())
    return f"manual download from {PAGE}: {' and '.join(ARCHIVES.values())} (or their folders) in {base}", present
