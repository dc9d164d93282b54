"""One task object per kind of work, picked by the data's ``info.task``."""

from __future__ import annotations

from typing import Callable

from ..config import Config
from ..data.bundle import DataInfo
from ..errors import VislabError
from .base import Metrics, Task
from .classification import ClassificationTask
from .domain_generalization import DomainGeneralizationTask
from .panoptic import PanopticTask, panoptic_requested
from .segmentation import SegmentationTask

TASKS: dict[str, Callable[[Config, DataInfo], Task]] = {
    "classification": ClassificationTask,
    "domain_generalization": DomainGeneralizationTask,
    "segmentation": SegmentationTask,
}


def build(cfg: Config, info: DataInfo) -> Task:
    """The task for ``info.task``; panoptic heads (model.heads, or a panoptic model) pick the panoptic task."""
    if panoptic_requested(cfg):
        return PanopticTask(cfg, info)
    factory = TASKS.get(info.task)
    if factory is None:
        raise VislabError(f"dataset {cfg.data.name} is a {info.task} dataset, which this version cannot train")
    return factory(cfg, info)


__all__ = ["Metrics", "TASKS", "Task", "build"]
