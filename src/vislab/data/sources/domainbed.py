"""PACS, VLCS, TerraIncognita and DomainNet as DomainBed (Gulrajani and Lopez-Paz, ICLR 2021) ships them:
``<data root>/<folder>/<domain>/<class>/*``, from the archives its download script fetches.

DomainBed's script states no sizes or checksums for these archives (PACS and VLCS come from Google Drive,
DomainNet from its authors' server), so a download is checked by its announced length and then by its
structure: every domain folder must come out of the archives, or the archives are bad input to delete.
Archives are extracted into a staging folder beside the dataset and their domain folders moved into
place only once all are there, so an interrupted extraction leaves nothing that passes for the dataset;
the archives are deleted afterwards, as DomainBed does (which also deletes the DomainNet duplicates its
misc/domain_net_duplicates.txt lists; vislab keeps them). TerraIncognita is the selection DomainBed's script
makes from Caltech Camera Traps' images and annotations (4 camera locations, 10 classes), made the same
way here. Splits follow ``data.protocol``, as for every multi-domain folder (``domain_folders``).
"""

from __future__ import annotations

import functools
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..bundle import DataBundle
from ..families.domain_trees import tree_bundle
from ..files.download import RemoteFile, fetch_all, safe_extract
from ..loading.splits import data_root

SCRIPT = "https://github.com/facebookresearch/DomainBed/blob/main/domainbed/scripts/download.py"
CCT = "https://lilablobssc.blob.core.windows.net/caltechcameratraps"  # Caltech Camera Traps, as DomainBed fetches it


def _drive(file_id: str) -> str:
    # Google Drive answers large files with a confirmation page unless asked to confirm (what gdown does)
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"


@dataclass(frozen=True)
class DomainBedSet:
    """One dataset: its folder under the data root, its domains in DomainBed's (sorted) order, its class
    count, and the archives whose ``inner`` folder holds the domain folders once extracted; ``prepare``
    (the extraction folder -> the folder of domain folders), where DomainBed builds them from the archives."""

    folder: str
    domains: tuple[str, ...]
    num_classes: int
    images: int
    archives: tuple[RemoteFile, ...]
    inner: str
    page: str
    prepare: Optional[Callable[[Path], Path]] = None


# TerraIncognita as DomainBed selects it from Caltech Camera Traps: four camera locations, ten classes
TERRA_LOCATIONS = ("38", "46", "100", "43")
TERRA_CLASSES = ("bird", "bobcat", "cat", "coyote", "dog", "empty", "opossum", "rabbit", "raccoon", "squirrel")
TERRA_JSON = "caltech_images_20210113.json"
TERRA_IMAGES = "eccv_18_all_images_sm"


def select_terra_incognita(stage: Path) -> Path:
    """DomainBed's selection from the extracted Caltech Camera Traps: every image of the four locations
    copied to ``location_<id>/<class>/`` for each of its annotations of the ten classes. Returns the
    folder holding the location folders."""
    path = stage / TERRA_JSON
    try:
        data = json.loads(path.read_text())
        names = {c["id"]: c["name"] for c in data["categories"]}
        labels: dict = {}
        for ann in data["annotations"]:
            labels.setdefault(ann["image_id"], []).append(names[ann["category_id"]])
        chosen = [(str(im["location"]), im["file_name"], labels.get(im["id"], [])) for im in data["images"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise VislabError(f"{path} is not Caltech Camera Traps' annotation file ({e}); delete the archives and run again") from None
    out = stage / "terra_incognita"
    for location, name, classes in chosen:
        for cls in classes:
            if location in TERRA_LOCATIONS and cls in TERRA_CLASSES:
                target = out / f"location_{location}" / cls / Path(name).name
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    shutil.copyfile(stage / TERRA_IMAGES / name, target)
                except FileNotFoundError:
                    raise VislabError(f"{TERRA_IMAGES}/{name}, named in {TERRA_JSON}, is not in the image archive; "
                                      "delete the archives and run again") from None
    return out


SETS: dict[str, DomainBedSet] = {
    "pacs": DomainBedSet(
        "PACS", ("art_painting", "cartoon", "photo", "sketch"), 7, 9_991,
        (RemoteFile("PACS.zip", (_drive("1JFr8f805nMUelQWWmfnJR3y4_SYoN5Pd"),)),), "kfold",
        "https://domaingeneralization.github.io/",
    ),
    "vlcs": DomainBedSet(
        "VLCS", ("Caltech101", "LabelMe", "SUN09", "VOC2007"), 5, 10_729,
        (RemoteFile("VLCS.tar.gz", (_drive("1skwblH1_okBwxWxmRsp9_qi15hyPpxg8"),)),), "VLCS",
        "http://www.eecs.qmul.ac.uk/~dl307/project_iccv2017",
    ),
    "terra_incognita": DomainBedSet(
        "terra_incognita", ("location_100", "location_38", "location_43", "location_46"), 10, 24_788,
        (RemoteFile("eccv_18_all_images_sm.tar.gz", (f"{CCT}/eccv_18_all_images_sm.tar.gz",)),
         RemoteFile("caltech_camera_traps.json.zip", (f"{CCT}/labels/caltech_camera_traps.json.zip",))),
        "", "https://lila.science/datasets/caltech-camera-traps", select_terra_incognita,
    ),
    "domainnet": DomainBedSet(
        "domain_net", ("clipart", "infograph", "painting", "quickdraw", "real", "sketch"), 345, 586_575,
        tuple(
            RemoteFile(f"{d}.zip", (f"http://csr.bu.edu/ftp/visda/2019/multi-source/{'groundtruth/' if d in ('clipart', 'painting') else ''}{d}.zip",))
            for d in ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")
        ),
        "", "http://ai.bu.edu/M3SDA/",
    ),
}


def missing_domains(spec: DomainBedSet, folder: Path) -> list[str]:
    return [d for d in spec.domains if not (folder / d).is_dir()]


def install(spec: DomainBedSet, folder: Path, download: bool) -> None:
    """Fetch the archives into the data root, extract them into a staging folder and move the domain
    folders into ``folder``; archives that do not hold every domain are bad input."""
    archives = fetch_all(spec.archives, folder.parent, download, f"{spec.page} (DomainBed: {SCRIPT})")
    stage = folder.parent / f".{folder.name}.extracting"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        for archive in archives:
            safe_extract(archive, stage)
        inner = spec.prepare(stage) if spec.prepare else stage / spec.inner
        absent = [d for d in spec.domains if not (inner / d).is_dir()]
        if absent:
            raise VislabError(
                f"{', '.join(a.name for a in archives)} in {folder.parent} do not hold {spec.inner or '.'}/{absent[0]}; "
                f"delete them and run again to download them anew"
            )
        folder.mkdir(parents=True, exist_ok=True)
        for d in spec.domains:
            shutil.rmtree(folder / d, ignore_errors=True)
            (inner / d).rename(folder / d)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    for archive in archives:
        archive.unlink()


READS = ("root", "skip_corrupt", "protocol", "test_domain", "limit", "val_fraction", "test_fraction", "split_seed", "channels", "in_memory", "allow_missing_classes", "download")  # data.* keys ``build`` reads


def build(name: str, cfg: DataConfig, aug: AugConfig) -> DataBundle:
    spec = SETS[name]
    folder = data_root(cfg.root) / spec.folder
    if missing_domains(spec, folder):
        install(spec, folder, cfg.download)
    return tree_bundle(cfg, aug, folder, {d: folder / d for d in spec.domains})


def status(name: str, root: Path) -> tuple[str, bool]:
    spec = SETS[name]
    folder = root / spec.folder
    what = f"{'/'.join(spec.domains)}/<class>/* in {folder} ({spec.images:,} images, {spec.num_classes} classes; downloaded when online)"
    return what, not missing_domains(spec, folder)


def builders(name: str):
    """(build, status) of one of ``SETS`` for the dataset registry."""
    return functools.partial(build, name), functools.partial(status, name)
