"""One task object per kind of work, picked by the data's ``info.task``."""

from __future__ import annotations

from typing import Callable

from ..config import Config
from ..data.bundle import DataInfo
from ..errors import VislabError
from ..reads import check_reads
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
    """The task for ``info.task``; panoptic heads (model.heads, or a panoptic model) pick the panoptic task.
    A loss.* or eval.* key the task does not read is refused."""
    name = "panoptic" if panoptic_requested(cfg) else info.task
    factory = PanopticTask if name == "panoptic" else TASKS.get(name)
    if factory is None:
        raise VislabError(f"dataset {cfg.data.name} is a {info.task} dataset, which this version cannot train")
    for section in ("loss", "eval"):
        check_reads(getattr(cfg, section), section, factory.reads.get(section, ()), f"{name} training")
    return factory(cfg, info)


__all__ = ["Metrics", "TASKS", "Task", "build"]
