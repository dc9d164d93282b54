"""Multi-domain image folders, ``root/<domain>/<class>/*``: the layout of Office-Home, PACS, VLCS,
TerraIncognita and DomainNet as DomainBed ships them, and of anyone's own domains (``data.name=domains``).

Domains are the folders under the root (names kept as written, sorted as DomainBed sorts them), classes
the folders under each domain, matched by name across domains; the class ids follow the sorted union of
names. A class missing from a domain is bad input naming both, unless ``data.allow_missing_classes``.
Images are listed and read by the image-folder code (every image decoded once before training;
``data.skip_corrupt`` applies); the splits follow ``data.protocol`` (see families/domain_splits.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ...config import AugConfig, DataConfig
from ...errors import VislabError
from ..bundle import DataBundle
from ..families.class_folders import class_folders
from ..families.domain_trees import LAYOUT, tree_bundle
from ..files.images import is_hidden
from ..loading.splits import user_folder


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
