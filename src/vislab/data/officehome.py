"""Office-Home (Venkateswara et al., CVPR 2017): 15,588 images of 65 object classes in four domains,
``<data root>/OfficeHome/{Art,Clipart,Product,Real_World}/<class>/*.jpg``.

Its licence asks users to download it themselves, so there is no download: an absent dataset is bad input
saying where to get it and where to put it. The official archive names the last domain "Real World";
that folder is accepted as it is. Images are listed and read by the image-folder code (every image is
decoded once before training; ``data.skip_corrupt`` applies); the splits follow ``data.protocol``.
"""

from __future__ import annotations

from pathlib import Path

from ..config import AugConfig, DataConfig
from ..errors import VislabError
from .bundle import DataBundle
from .domains import domain_bundle, protocol_split
from .folder import Listing, class_folders, list_class, listing_bundle
from .splits import data_root

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


def list_domains(cfg: DataConfig, root: Path) -> Listing:
    """Every image as (path under ``root``, class id, domain id), split by ``data.protocol``; every domain
    must have the same class folders."""
    missing = [d for d in DOMAINS if not domain_folder(root, d).is_dir()]
    if missing:
        lacks = "is absent" if len(missing) == len(DOMAINS) else f"lacks {', '.join(missing)}"
        raise VislabError(f"{root} {lacks}. {how_to_get(root)}")
    skipped: list[str] = []
    items: list[tuple[str, int, int]] = []
    names: list[str] = []
    for domain_id, domain in enumerate(DOMAINS):
        folders = class_folders(domain_folder(root, domain))
        here = [f.name for f in folders]
        names = names or here
        if here != names:
            differ = sorted(set(here) ^ set(names))
            raise VislabError(
                f"{domain_folder(root, domain)} does not have the classes of {domain_folder(root, DOMAINS[0])} "
                f"(they differ in {', '.join(differ[:5])}); every domain needs the same class folders"
            )
        for class_id, folder in enumerate(folders):
            items += [(f, class_id, domain_id) for f in list_class(folder, root, cfg.skip_corrupt, skipped)]
    if not names:
        raise VislabError(f"{domain_folder(root, DOMAINS[0])} holds no class folders. {how_to_get(root)}")
    parts = protocol_split(cfg, [it[1] for it in items], [it[2] for it in items], DOMAINS)
    splits = {s: [items[i] for i in idx] for s, idx in parts.items()}
    return Listing(names, splits, skipped, extra_keys=("domain",))


READS = ("root", "skip_corrupt", "protocol", "test_domain", "limit", "val_fraction", "test_fraction", "split_seed", "channels", "in_memory")  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    root = data_root(cfg.root) / FOLDER
    listing = list_domains(cfg, root)
    return domain_bundle(listing_bundle(cfg, aug, root, listing), DOMAINS)


def status(root: Path) -> tuple[str, bool]:
    folder = root / FOLDER
    present = all(domain_folder(folder, d).is_dir() for d in DOMAINS)
    return f"manual download from {PAGE}: {'/'.join(DOMAINS)}/<class>/*.jpg in {folder}", present
