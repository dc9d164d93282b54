"""Which features combine: one table of rules, each a combination that makes no sense and what to do instead.

A rule reads the config and the run's ``Kind`` (what the task, the data and the model declare), never a task
name compared as a string. ``check`` goes through the table once, before the model is built and before any
run directory exists (``tasks.build`` calls it, for ``vislab train`` and for a sweep's up-front check alike).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import VislabError
from .schema import Config


@dataclass(frozen=True)
class Kind:
    """What a run is, as declared: by the task (``per_pixel``, ``domains``, ``panoptic``), the data
    (``data_domains``) and the model family (``any_size``)."""

    task: str  # the task.name in effect, for messages only
    per_pixel: bool  # targets and outputs are per pixel
    domains: bool  # the task learns with each image's domain
    panoptic: bool  # the task learns instance centers and offsets beside the classes
    data_domains: bool  # the data names a domain for each image (whatever the task does with it)
    any_size: bool  # the model takes images of any size (a fixed flatten layer does not)


@dataclass(frozen=True)
class Rule:
    """A combination that makes no sense: ``applies(cfg, kind)`` says whether the config holds it, and
    ``message(cfg, kind)`` is the one line that names the keys and what to set instead."""

    name: str
    applies: Callable[[Config, Kind], bool]
    message: Callable[[Config, Kind], str]


def panoptic_heads(cfg: Config) -> bool:
    """Whether the model has center and offset heads: model.heads=panoptic, or panoptic_deeplab."""
    return cfg.model.heads == "panoptic" or cfg.model.name == "panoptic_deeplab"


def _mixstyle_on(cfg: Config) -> bool:
    return cfg.model.mixstyle is not None and cfg.model.mixstyle.p > 0  # p=0 is off


def _schedules(cfg: Config, key: str) -> bool:
    return cfg.train.progressive is not None and getattr(cfg.train.progressive, key) is not None


RULES: tuple[Rule, ...] = (
    Rule(
        "domain-balanced sampler needs domains",
        lambda cfg, kind: cfg.data.sampler == "domain_balanced" and not kind.data_domains,
        lambda cfg, kind: f"data.sampler=domain_balanced draws equally from the domains, which data.name={cfg.data.name} "
                          f"({kind.task}) does not have; use data.sampler=random",
    ),
    Rule(
        "domains per batch need the domain-balanced sampler",
        lambda cfg, kind: cfg.data.sampler != "domain_balanced" and cfg.data.domains_per_batch is not None,
        lambda cfg, kind: "data.domains_per_batch applies only with data.sampler=domain_balanced; set it to null",
    ),
    Rule(
        "the class-balanced sampler needs a class per image",
        lambda cfg, kind: cfg.data.sampler == "class_balanced" and kind.per_pixel,
        lambda cfg, kind: f"data.sampler=class_balanced draws images by their class, which per-pixel work ({kind.task}) "
                          "does not give an image; use data.sampler=random (and loss.class_weights=[...] for rare classes)",
    ),
    Rule(
        "class weights from class counts need a class per image",
        lambda cfg, kind: isinstance(cfg.loss.class_weights, str) and kind.per_pixel,
        lambda cfg, kind: f"loss.class_weights={cfg.loss.class_weights} counts images per class, which per-pixel work "
                          f"({kind.task}) does not have; give one weight per class, e.g. loss.class_weights=[1.0, 5.0]",
    ),
    Rule(
        "the class-balanced sampler and counted class weights correct the same imbalance",
        lambda cfg, kind: cfg.data.sampler == "class_balanced" and isinstance(cfg.loss.class_weights, str),
        lambda cfg, kind: f"data.sampler=class_balanced and loss.class_weights={cfg.loss.class_weights} each make up for "
                          "rare classes, together twice over; choose one (loss.class_weights=null or data.sampler=random)",
    ),
    Rule(
        "center and offset heads need the panoptic task",
        lambda cfg, kind: panoptic_heads(cfg) and not kind.panoptic,
        lambda cfg, kind: "model.heads=panoptic and panoptic_deeplab give center and offset heads that only task.name=panoptic "
                          "trains; set task.name=panoptic (or model.heads=semantic with another model)",
    ),
    Rule(
        "the panoptic task needs center and offset heads",
        lambda cfg, kind: kind.panoptic and not panoptic_heads(cfg),
        lambda cfg, kind: "task.name=panoptic learns centers and offsets: use a model with those heads, model.heads=panoptic "
                          "(unet) or model.name=panoptic_deeplab",
    ),
    Rule(
        "MixStyle and the domain head need a task that learns with domains",
        lambda cfg, kind: (_mixstyle_on(cfg) or cfg.model.domain_head) and not kind.domains,
        lambda cfg, kind: f"model.mixstyle and model.domain_head need task.name=domain_generalization (a domain-generalization "
                          f"dataset: officehome, digits-dg), not {kind.task}; set model.mixstyle=null model.domain_head=false",
    ),
    Rule(
        "a scheme cannot join MixStyle with a domain head",
        lambda cfg, kind: cfg.semisup.method != "none" and _mixstyle_on(cfg) and cfg.model.domain_head,
        lambda cfg, kind: f"semisup.method={cfg.semisup.method} with model.mixstyle and model.domain_head: MixStyle mixes the "
                          "styles of labeled and unlabeled images in one batch, while the domain head learns from the "
                          "labeled ones alone; set model.domain_head=false (or model.mixstyle=null)",
    ),
    Rule(
        "progressive image sizes need a model that takes any size",
        lambda cfg, kind: _schedules(cfg, "image_size") and not kind.any_size,
        lambda cfg, kind: f"train.progressive.image_size: model.name={cfg.model.name} takes images of one size only (its "
                          "classifier is sized for the data's images); set train.progressive.image_size=null or choose "
                          "a model that pools, e.g. model.name=resnet18",
    ),
    Rule(
        "a progressive magnitude needs RandAugment",
        lambda cfg, kind: _schedules(cfg, "magnitude") and cfg.aug.randaugment is None,
        lambda cfg, kind: "train.progressive.magnitude schedules aug.randaugment, which is off; switch it on or set "
                          "train.progressive.magnitude=null",
    ),
    Rule(
        "a progressive MixUp alpha needs MixUp",
        lambda cfg, kind: _schedules(cfg, "mixup_alpha") and cfg.aug.mixup is None,
        lambda cfg, kind: "train.progressive.mixup_alpha schedules aug.mixup, which is off; switch it on or set "
                          "train.progressive.mixup_alpha=null",
    ),
)


def check(cfg: Config, kind: Kind) -> None:
    """Raise VislabError with the message of the first rule in ``RULES`` that the config and kind break."""
    for rule in RULES:
        if rule.applies(cfg, kind):
            raise VislabError(rule.message(cfg, kind))
