"""One task object per kind of work, chosen in one place: ``task.name``, by default the dataset's kind."""

from __future__ import annotations

from ..config import Config, combinations
from ..config.combinations import Kind
from ..data.bundle import DataInfo
from ..errors import VislabError
from ..models import family_of
from ..reads import check_reads
from .base import Metrics, StepContext, Stream, Task
from .classification import ClassificationTask
from .domain_generalization import DomainGeneralizationTask
from .panoptic import PanopticTask
from .segmentation import SegmentationTask

TASKS: dict[str, type[Task]] = {
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


def kind_of(cfg: Config, info: DataInfo) -> Kind:
    """What the run is, as the chosen task, the data and the model family declare it (for the rules of
    config.combinations)."""
    factory = TASKS[task_name(cfg, info)]
    family = family_of(cfg.model.name)  # an unknown name is refused when the model is built
    return Kind(task=factory.name, per_pixel=factory.per_pixel, domains=factory.domains, panoptic=factory.panoptic,
                data_domains=info.domains is not None, any_size=family is None or family.any_size)


def build(cfg: Config, info: DataInfo, evaluating: bool = False) -> Task:
    """The task ``task.name`` chooses (see ``task_name``), once the features the config combines pass the rules
    of config.combinations; a loss.* or eval.* key the task does not read is bad input. ``evaluating``: for a
    finished run (eval, predict, export), whose refusals say so rather than speak of training."""
    kind = kind_of(cfg, info)
    combinations.check(cfg, kind)
    factory = TASKS[kind.task]
    for section in ("loss", "eval"):
        use = f"evaluating a {kind.task} run" if evaluating else f"{kind.task} training"
        check_reads(getattr(cfg, section), section, factory.reads.get(section, ()), use)
    return factory(cfg, info)


__all__ = ["Metrics", "StepContext", "Stream", "TASKS", "Task", "build", "kind_of", "task_name"]
