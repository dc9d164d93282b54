"""PACS, VLCS, TerraIncognita and DomainNet as DomainBed (Gulrajani and Lopez-Paz, ICLR 2021) ships them:
``<data root>/<folder>/<domain>/<class>/*``, from the archives its download script fetches.

DomainBed's script states no sizes or checksums for these archives (PACS and VLCS come from Google Drive,
DomainNet from its authors' server), so a download is checked by its announced length and then by its
structure: every domain folder must come out of the archives, or the archives are bad input to delete.
Archives are extracted into a staging folder beside the dataset and their domain folders moved into
place only once all are there, so an interrupted extraction leaves nothing that passes for the dataset;
the archives are deleted afterwards, as DomainBed does. TerraIncognita is not an archive but a selection
DomainBed's script makes from Caltech Camera Traps (4 camera locations, 10 classes): it is put in place
by hand. Splits follow ``data.protocol``, as for every multi-domain folder (``domain_folders``).
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..config import AugConfig, DataConfig
from ..errors import VislabError
from .bundle import DataBundle
from .domain_folders import tree_bundle
from .download import RemoteFile, fetch_all, safe_extract
from .splits import data_root

SCRIPT = "https://github.com/facebookresearch/DomainBed/blob/main/domainbed/scripts/download.py"


def _drive(file_id: str) -> str:
    # Google Drive answers large files with a confirmation page unless asked to confirm (what gdown does)
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"


@dataclass(frozen=True)
class DomainBedSet:
    """One dataset: its folder under the data root, its domains in DomainBed's (sorted) order, its class
    count, and the archives whose ``inner`` folder holds the domain folders (none: put in place by hand)."""

    folder: str
    domains: tuple[str, ...]
    num_classes: int
    images: int
    archives: tuple[RemoteFile, ...]
    inner: str
    page: str


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
        "terra_incognita", ("location_100", "location_38", "location_43", "location_46"), 10, 24_788, (), "",
        "https://lila.science/datasets/caltech-camera-traps",
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


def how_to_get(spec: DomainBedSet, folder: Path) -> str:
    if not spec.archives:
        return (
            f"build it as DomainBed's download_terra_incognita does ({SCRIPT}) from {spec.page} and put its "
            f"folders {', '.join(spec.domains)} (each holding <class>/<image>) in {folder}/"
        )
    names = ", ".join(r.name for r in spec.archives)
    return f"get {names} ({spec.page}; DomainBed: {SCRIPT}) and put them in {folder.parent}/, or put the domain folders in {folder}/"


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
        inner = stage / spec.inner
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


def build(name: str, cfg: DataConfig, aug: AugConfig) -> DataBundle:
    spec = SETS[name]
    folder = data_root(cfg.root) / spec.folder
    absent = missing_domains(spec, folder)
    if absent and not spec.archives:
        lacks = "is absent" if len(absent) == len(spec.domains) else f"lacks {', '.join(absent)}"
        raise VislabError(f"{folder} {lacks}: {spec.folder} cannot be downloaded as it is; {how_to_get(spec, folder)}")
    if absent:
        install(spec, folder, cfg.download)
    return tree_bundle(cfg, aug, folder, {d: folder / d for d in spec.domains})


def status(name: str, root: Path) -> tuple[str, bool]:
    spec = SETS[name]
    folder = root / spec.folder
    how = "downloaded when online" if spec.archives else f"built from Caltech Camera Traps by hand, see {SCRIPT}"
    what = f"{'/'.join(spec.domains)}/<class>/* in {folder} ({spec.images:,} images, {spec.num_classes} classes; {how})"
    return what, not missing_domains(spec, folder)


def builders(name: str):
    """(build, status) of one of ``SETS`` for the dataset registry."""
    return functools.partial(build, name), functools.partial(status, name)
