"""Multi-domain image folders, ``root/<domain>/<class>/*``: listing a tree of domain folders into the
splits ``data.protocol`` names, shared by Office-Home, DomainBed's sets and ``data.name=domains``."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..bundle import DataBundle
from .class_folders import Listing, class_folders, list_class, listing_bundle
from .domain_splits import domain_bundle, protocol_split

LAYOUT = "root/<domain>/<class>/<image>"


def domain_classes(folders: Mapping[str, Path], allow_missing: bool) -> list[str]:
    """The sorted union of the class folder names of every domain; a domain without class folders, or
    (unless ``allow_missing``) without one that another domain has, is bad input naming it."""
    found = {}
    for domain, folder in folders.items():
        found[domain] = {f.name for f in class_folders(folder)}
        if not found[domain]:
            raise VislabError(f"domain folder {folder} holds no class folders; expected {LAYOUT}")
    names = sorted(set().union(*found.values()))
    if not allow_missing:
        for domain, here in found.items():
            lacks = [n for n in names if n not in here]
            if lacks:
                has = next(d for d, h in found.items() if lacks[0] in h)
                raise VislabError(
                    f"{folders[domain]} lacks the class {', '.join(lacks[:5])} that domain {has} has; "
                    "add the class folder, or set data.allow_missing_classes=true"
                )
    return names


def list_domain_tree(cfg: DataConfig, root: Path, folders: Mapping[str, Path]) -> Listing:
    """Every image as (path under ``root``, class id, domain id), split by ``data.protocol``; domain ids
    follow the order of ``folders`` (domain name -> its folder)."""
    names = domain_classes(folders, cfg.allow_missing_classes)
    skipped: list[str] = []
    items: list[tuple[str, int, int]] = []
    for domain_id, folder in enumerate(folders.values()):
        for class_folder in class_folders(folder):
            class_id = names.index(class_folder.name)
            items += [(f, class_id, domain_id) for f in list_class(class_folder, root, cfg.skip_corrupt, skipped)]
    parts = protocol_split(cfg, [it[1] for it in items], [it[2] for it in items], list(folders))
    splits = {s: [items[i] for i in idx] for s, idx in parts.items()}
    return Listing(names, splits, skipped, extra_keys=("domain",))


def tree_bundle(cfg: DataConfig, aug: AugConfig, root: Path, folders: Mapping[str, Path]) -> DataBundle:
    """The domain-generalization bundle of the domain folders under ``root``."""
    listing = list_domain_tree(cfg, root, folders)
    return domain_bundle(listing_bundle(cfg, aug, root, listing), list(folders))
