"""Multi-domain image folders, ``root/<domain>/<class>/*``: the layout of Office-Home, PACS, VLCS,
TerraIncognita and DomainNet as DomainBed ships them, and of anyone's own domains (``data.name=domains``).

Domains are the folders under the root (names kept as written, sorted as DomainBed sorts them), classes
the folders under each domain, matched by name across domains; the class ids follow the sorted union of
names. A class missing from a domain is bad input naming both, unless ``data.allow_missing_classes``.
Images are listed and read by the image-folder code (every image decoded once before training;
``data.skip_corrupt`` applies); the splits follow ``data.protocol`` (see ``domains``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional

from ..config import AugConfig, DataConfig
from ..errors import VislabError
from .bundle import DataBundle
from .domains import domain_bundle, protocol_split
from .folder import Listing, class_folders, list_class, listing_bundle
from .images import is_hidden
from .splits import user_folder

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


def discover(root: Path) -> dict[str, Path]:
    """The domain folders under ``root`` by name, sorted; fewer than two is bad input."""
    folders = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and not is_hidden(p)}
    if len(folders) < 2:
        raise VislabError(
            f"data.name=domains needs at least two domain folders in {root} ({LAYOUT}), found "
            f"{len(folders)}; for one domain use data.name=folder"
        )
    flat = [d for d, f in folders.items() if not class_folders(f) and any(p.is_file() for p in f.iterdir())]
    if flat:
        raise VislabError(
            f"{folders[flat[0]]} holds images, not class folders: data.name=domains reads {LAYOUT}; "
            f"for {root}/<class>/<image> use data.name=folder"
        )
    return folders


READS = ("root", "skip_corrupt", "protocol", "test_domain", "limit", "val_fraction", "test_fraction", "split_seed", "channels", "in_memory", "allow_missing_classes")  # data.* keys ``build`` reads


def build(cfg: DataConfig, aug: AugConfig) -> DataBundle:
    root = user_folder(cfg.name, cfg.root, f"a folder of domain folders ({LAYOUT})")
    return tree_bundle(cfg, aug, root, discover(root))


def status(root: Path) -> tuple[str, Optional[bool]]:
    """None: the user names the folder."""
    return "your own domains: data.root=PATH holding <domain>/<class>/<image> (two domains or more)", None
