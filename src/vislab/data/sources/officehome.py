"""Office-Home (Venkateswara et al., CVPR 2017): 15,588 images of 65 object classes in four domains,
``<data root>/OfficeHome/{Art,Clipart,Product,Real_World}/<class>/*.jpg``.

Its licence asks users to download it themselves, so there is no download: an absent dataset is bad input
saying where to get it and where to put it. The official archive names the last domain "Real World";
that folder is accepted as it is. Images are listed as every multi-domain folder is (``domain_folders``).
"""

from __future__ import annotations

from pathlib import Path

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..bundle import DataBundle
from ..families.domain_trees import tree_bundle
from ..loading.splits import data_root

FOLDER = "OfficeHome"
DOMAINS = ("Art", "Clipart", "Product", "Real_World")
PAGE = "https://www.hemanthdv.org/officeHomeDataset.html"


def domain_folder(root: Path, domain: str) -> Path:
    """The domain's folder: ``Real_World``, or ``Real World`` as the official archive has it."""
    spaced = root / domain.replace("_", " ")
    return spaced if not (root / domain).is_dir() and spaced.is_dir() else root / domain


def how_to_get(root: Path) -> str:
    return (
        f"Office-Home cannot be downloaded by script: get OfficeHomeDataset_10072016.zip from {PAGE} "
        f"(accepting its terms), unzip it and put its folders {', '.join(DOMAINS)} (or 'Real World') in {root}/"
    )


def domain_folders(root: Path) -> dict[str, Path]:
    """Each domain's folder; an absent or incomplete dataset is bad input saying where to get it."""
    missing = [d for d in DOMAINS if not domain_folder(root, d).is_dir()]
    if missing:
        lacks = "is absent" if len(missing) == len(DOMAINS) else f"lacks {', '.join(missing)}"
        raise VislabError(f"{root} {lacks}. {how_to_get(root)}")
    return {d: domain_folder(root, d) for d in DOMAINS}


READS = ("root", "skip_corrupt", "protocol", "test_domain", "limit", "val_fraction", "test_fraction", "split_seed", "channels", "in_memory",
         "allow_missing_classes")  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    root = data_root(cfg.root) / FOLDER
    return tree_bundle(cfg, aug, root, domain_folders(root))


def status(root: Path) -> tuple[str, bool]:
    folder = root / FOLDER
    present = all(domain_folder(folder, d).is_dir() for d in DOMAINS)
    return f"manual download from {PAGE}: {'/'.join(DOMAINS)}/<class>/*.jpg in {folder}", present
