"""One task object per kind of work, chosen in one place: ``task.name``, by default the dataset's kind."""

from __future__ import annotations

from typing import Callable

from ..config import Config
from ..data.bundle import DataInfo
from ..errors import VislabError
from ..reads import check_reads
from .base import Metrics, StepContext, Stream, Task
from .classification import ClassificationTask
from .domain_generalization import DomainGeneralizationTask
from .panoptic import PanopticTask, panoptic_heads
from .segmentation import SegmentationTask

TASKS: dict[str, Callable[[Config, DataInfo], Task]] = {
    "classification": ClassificationTask,
    "domain_generalization": DomainGeneralizationTask,
    "segmentation": SegmentationTask,
    "panoptic": PanopticTask,
}

# The tasks each kind of data can train (the first is the default); classification on
# domain-generalization data is plain ERM over the pooled domains.
TRAINABLE: dict[str, tuple[str, ...]] = {
    "classification": ("classification",),
    "domain_generalization": ("domain_generalization", "classification"),
    "segmentation": ("segmentation", "panoptic"),
}


def task_name(cfg: Config, info: DataInfo) -> str:
    """``task.name``, or the dataset's kind of work; a task the data cannot train is bad input."""
    name = cfg.task.name or info.task
    trainable = TRAINABLE.get(info.task, ())
    if name not in trainable:
        if not trainable:
            raise VislabError(f"dataset {cfg.data.name} is a {info.task} dataset, which this version cannot train")
        raise VislabError(
            f"task.name={name} cannot train on dataset {cfg.data.name} ({info.task} data); "
            f"use task.name={' or '.join(trainable)}"
        )
    return name


def build(cfg: Config, info: DataInfo, evaluating: bool = False) -> Task:
    """The task ``task.name`` chooses (see ``task_name``); model keys only another task reads are bad
    input, and so is a loss.* or eval.* key the task does not read. ``evaluating``: for a finished run
    (eval, predict, export), whose refusals say so rather than speak of training."""
    name = task_name(cfg, info)
    if name != "panoptic" and panoptic_heads(cfg):
        raise VislabError(
            "model.heads=panoptic and panoptic_deeplab give center and offset heads that only task.name=panoptic "
            "trains; set task.name=panoptic (or model.heads=semantic with another model)"
        )
    if name == "panoptic" and not panoptic_heads(cfg):
        raise VislabError(
            "task.name=panoptic learns centers and offsets: use a model with those heads, model.heads=panoptic "
            "(unet) or model.name=panoptic_deeplab"
        )
    mixstyle_on = cfg.model.mixstyle is not None and cfg.model.mixstyle.p > 0  # p=0 is off
    if name != "domain_generalization" and (mixstyle_on or cfg.model.domain_head):
        raise VislabError(
            f"model.mixstyle and model.domain_head need task.name=domain_generalization (a domain-generalization "
            f"dataset: officehome, digits-dg), not {name}; set model.mixstyle=null model.domain_head=false"
        )
    factory = TASKS[name]
    for section in ("loss", "eval"):
        use = f"evaluating a {name} run" if evaluating else f"{name} training"
        check_reads(getattr(cfg, section), section, factory.reads.get(section, ()), use)
    return factory(cfg, info)


__all__ = ["Metrics", "StepContext", "Stream", "TASKS", "Task", "build", "task_name"]
