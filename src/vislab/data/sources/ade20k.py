"""ADE20K SceneParsing (SceneParse150, Zhou et al. 2017): 20,210 training and 2,000 validation images of
150 classes, as ADEChallengeData2016.zip lays them out (downloaded when online, checked by the SHA-1
GluonCV publishes for it):

    ROOT/ADEChallengeData2016/images/{training,validation}/ADE_*.jpg
    ROOT/ADEChallengeData2016/annotations/{training,validation}/ADE_*.png    grayscale, 0..150

Annotation value 0 ("other objects") is ignored (255) and value k is class k - 1, as MMSegmentation reads
it (``reduce_zero_label``); any other value is bad input naming the file.
"""

from __future__ import annotations

from pathlib import Path

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..bundle import DataBundle
from ..families.annotated_trees import annotated_bundle
from ..families.per_pixel import MaskValues
from ..files.download import RemoteFile, fetch, safe_extract
from ..loading.splits import data_root

ARCHIVE = RemoteFile(
    "ADEChallengeData2016.zip", ("http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip",),
    sha1="219e1696abb36c8ba3a3afe7fb2f4b4606a897c7",
)
WHERE = "http://sceneparsing.csail.mit.edu/"
FOLDER = "ADEChallengeData2016"
SPLITS = {"train": "training", "val": "validation"}
CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand",
    "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
    "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle",
    "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven",
    "ball", "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake",
    "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray",
    "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator",
    "glass", "clock", "flag",
)


def needed(base: Path) -> list[Path]:
    return [base / kind / split for kind in ("images", "annotations") for split in SPLITS.values()]


def ensure(cfg: DataConfig) -> Path:
    """ADEChallengeData2016 under the data root, downloaded and extracted when absent (and allowed)."""
    root = data_root(cfg.root)
    base = root / FOLDER
    if not all(p.is_dir() for p in needed(base)):
        archive = fetch(ARCHIVE, root, cfg.download, WHERE)
        safe_extract(archive, root)
    missing = [p for p in needed(base) if not p.is_dir()]
    if missing:
        raise VislabError(f"{ARCHIVE.name} does not hold {missing[0].relative_to(root)}; delete it and {base}, and run again to download it anew")
    return base


READS = ("root", "download", "limit", "repeat")  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    base = ensure(cfg)
    folders = {split: (base / "images" / folder, base / "annotations" / folder) for split, folder in SPLITS.items()}
    values = MaskValues(len(CLASSES), 255, {0: 255, **{k + 1: k for k in range(len(CLASSES))}})
    redo = f"ADE20K under {base} is incomplete or damaged: delete it and run again to extract {ARCHIVE.name} anew"
    return annotated_bundle(cfg, aug, base, folders, (".jpg", ".png"), CLASSES, values, "ADE20K's 0..150", redo)


def status(root: Path) -> tuple[str, bool]:
    base = root / FOLDER
    return f"{base}/images|annotations/training|validation from {ARCHIVE.name} ({WHERE}; downloaded on first use)", all(
        p.is_dir() for p in needed(base))
