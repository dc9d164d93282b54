"""Datasets: ``build(cfg.data, cfg.aug) -> DataBundle`` and ``status()`` (registry.py), the bundle and its
datasets, the loader. The names below load on first use: importing a light part of the package (a file's identity, a
dataset's domain names) must not import torch and torchvision, which `vislab compare` and `vislab board` never need."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

HOMES = {  # name -> the module of this package that defines it
    "COMMON": "registry", "DATASETS": "registry", "DatasetSpec": "registry", "build": "registry", "spec_of": "registry",
    "status": "registry",
    "DataBundle": "bundle", "DataInfo": "bundle", "MemoryDataset": "datasets", "SampleDataset": "datasets",
    "Loader": "loading.loader", "augment_for_memory": "augment.per_batch", "bootstrapped": "loading.labeled",
    "data_root": "loading.splits",
}
__all__ = sorted(HOMES)


def __getattr__(name: str) -> Any:
    home = HOMES.get(name)
    if home is None:  # a part of the package (data.sources, data.bundle ...), imported when first named
        if importlib.util.find_spec(f"{__name__}.{name}") is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return importlib.import_module(f"{__name__}.{name}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # looked up once
    return value
