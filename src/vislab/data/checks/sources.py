"""What `vislab data check` reads: each split's images (and labels or masks) exactly as training lists them.

Datasets of the user's own files (``folder``, ``domains``, ``pairs``) are listed by their own listing code
without opening anything, so a damaged image or a wrong mask is reported rather than stopping the check as it
stops training. Every other dataset is built by ``data.build`` as training builds it, and its splits are read
un-augmented sample by sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ...config import Config, DataConfig
from ...data_info import per_pixel_targets
from ..families.per_pixel import relative_names

SPLITS = ("train", "val", "test")


@dataclass
class Item:
    """One sample of a split. ``image()`` gives the image as stored (a PIL image; raises what
    ``images.unreadable_errors`` lists for a bad file); ``mask()`` its raw mask values [H, W] and ``instances()``
    its instance ids [H, W] (0: none), where the data has them."""

    name: str
    image: Callable[[], Any]
    label: Optional[int] = None
    domain: Optional[int] = None
    mask: Optional[Callable[[], np.ndarray]] = None
    mask_name: Optional[str] = None
    palette: bool = False
    instances: Optional[Callable[[], np.ndarray]] = None


@dataclass
class Source:
    """The splits to check and what the check must know of the data: ``task``, the classes, the domains,
    the ignore index and ``data.mask_values``; ``num_classes`` is None where masks alone tell it; ``files``
    lists each split's files as a run saves them in splits/<split>.txt (empty for embedded data)."""

    task: str
    class_names: Optional[list[str]]
    splits: dict[str, list[Item]]
    domains: Optional[list[str]] = None
    num_classes: Optional[int] = None
    ignore_index: int = 255
    mask_values: Optional[dict[int, int]] = None
    files: dict[str, list[str]] = field(default_factory=dict)
    root: Optional[Path] = None


def source(cfg: Config) -> Source:
    """The splits of ``cfg.data`` as training would read them; bad input raises VislabError."""
    from ..registry import spec_of

    spec_of(cfg.data)  # an unknown dataset or a data.* key it does not read: refused as training refuses it
    lister = LISTERS.get(cfg.data.name)
    return lister(cfg.data) if lister is not None else built(cfg)


def _opener(path: Path) -> Callable[[], Any]:
    def open_image() -> Any:
        from PIL import Image

        with Image.open(path) as im:
            im.load()
            return im

    return open_image


def folder_source(cfg: DataConfig) -> Source:
    """``data.name=folder``: its listing (train/val/test folders or the seeded stratified split)."""
    from ..loading.splits import user_folder
    from ..sources.folder import list_folder

    root = user_folder(cfg.name, cfg.root, "a folder of class folders (root/<class>/<image>)")
    return listing_source(root, list_folder(cfg, root), "classification")


def domains_source(cfg: DataConfig) -> Source:
    """``data.name=domains``: the domain tree split by ``data.protocol``."""
    from ..families.domain_trees import LAYOUT, list_domain_tree
    from ..loading.splits import user_folder
    from ..sources.domain_folders import discover

    root = user_folder(cfg.name, cfg.root, f"a folder of domain folders ({LAYOUT})")
    folders = discover(root)
    return listing_source(root, list_domain_tree(cfg, root, folders), "domain_generalization", list(folders))


def listing_source(root: Path, listing: Any, task: str, domains: Optional[list[str]] = None) -> Source:
    splits = {
        split: [Item(it[0], _opener(root / it[0]), label=it[1], domain=it[2] if domains else None) for it in items]
        for split, items in listing.splits.items()
    }
    files = {s: [it[0] for it in items] for s, items in listing.splits.items()}
    return Source(task, list(listing.class_names), splits, domains=domains, files=files, root=root)


def pairs_source(cfg: DataConfig) -> Source:
    """``data.name=pairs``: the matched image/mask files of each split, before any mask is checked."""
    from ..families.per_pixel import read_mask
    from ..loading.splits import limited, user_folder
    from ..sources.pairs import instance_files, pools, split

    root = user_folder(cfg.name, cfg.root, "the folder holding the images and masks")
    splits = {k: list(limited(v, cfg.limit)) for k, v in split(pools(root, cfg), cfg).items()}
    out: dict[str, list[Item]] = {}
    for name, pairs in splits.items():
        instances = instance_files(pairs, cfg) if cfg.instance_dir else [None] * len(pairs)
        out[name] = [
            Item(str(image.relative_to(root)), _opener(image), mask=_reader(read_mask, mask),
                 mask_name=str(mask.relative_to(root)), palette=_is_palette(mask),
                 instances=_reader(read_mask, inst) if inst is not None else None)
            for (image, mask), inst in zip(pairs, instances)
        ]
    names = cfg.class_names or (None if cfg.num_classes is None else [str(i) for i in range(cfg.num_classes)])
    num_classes = cfg.num_classes or (len(cfg.class_names) if cfg.class_names else None)
    return Source("segmentation", names, out, num_classes=num_classes,
                  ignore_index=cfg.ignore_index, mask_values=cfg.mask_values,
                  files={k: relative_names(v, root) for k, v in splits.items()}, root=root)


def _reader(read: Callable[[Path], np.ndarray], path: Path) -> Callable[[], np.ndarray]:
    return lambda: read(path)


def _is_palette(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.mode == "P"
    except OSError:
        return False


LISTERS: dict[str, Callable[[DataConfig], Source]] = {
    "folder": folder_source, "domains": domains_source, "pairs": pairs_source,
}


def built(cfg: Config) -> Source:
    """Any other dataset: built as training builds it, each split read un-augmented."""
    from ..registry import build

    bundle = build(cfg.data, cfg.aug)
    info = bundle.info
    splits = {}
    for name in SPLITS:
        dataset = unrepeated(getattr(bundle, name))
        if dataset is not None:
            names = bundle.files.get(name) or [f"{name}/{i}" for i in range(len(dataset))]
            splits[name] = [_built_item(dataset, i, names[i], info.task) for i in range(len(dataset))]
    return Source(info.task, list(info.class_names), splits,
                  domains=info.domains, num_classes=info.num_classes, ignore_index=info.ignore_index,
                  files=dict(bundle.files))


def unrepeated(dataset: Any) -> Any:
    """A split without the training repeat (data.repeat): its first pass, each image once."""
    from ..families.per_pixel import Passes

    return dataset.parts[0] if isinstance(dataset, Passes) else dataset


def raw_sample(dataset: Any, index: int) -> dict:
    """Sample ``index`` of a split before any augmentation: loaded, not transformed (a held split's items are
    un-augmented already: its augmentation runs per batch)."""
    from ..datasets import SampleDataset

    return dataset.load(index) if isinstance(dataset, SampleDataset) else dataset[index]


def _built_item(dataset: Any, index: int, name: str, task: str) -> Item:
    def image() -> Any:
        from PIL import Image

        array = np.asarray(raw_sample(dataset, index)["image"]).transpose(1, 2, 0)
        return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)

    def sample_field(key: str) -> Callable[[], np.ndarray]:
        return lambda: np.asarray(raw_sample(dataset, index)[key])

    if per_pixel_targets(task):
        has_instances = "instance" in getattr(dataset, "extras", {}) or getattr(dataset, "instances", None) is not None
        return Item(name, image, mask=sample_field("target"), mask_name=name,
                    instances=sample_field("instance") if has_instances else None)
    sample = raw_sample(dataset, index)
    domain = sample.get("domain")
    return Item(name, image, label=int(sample["target"]), domain=None if domain is None else int(domain))
