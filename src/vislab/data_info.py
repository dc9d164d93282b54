"""`DataInfo`: the facts about a run's data that models, tasks, the loop and the run directory depend on.

Plain data, below the data, models and losses packages: a model is sized from it without importing the datasets
(the import-linter contract in pyproject.toml keeps models and data apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


PER_PIXEL_TASKS = ("segmentation", "panoptic")  # DataInfo.task values whose targets are maps [H, W]


def per_pixel_targets(task: str) -> bool:
    """Whether data of ``task`` (DataInfo.task) has a target per pixel rather than a class per image: the data
    side of the tasks' ``per_pixel`` declaration, for code below the tasks (tests/test_feature_rules.py holds
    the two to agreement)."""
    return task in PER_PIXEL_TASKS


@dataclass
class DataInfo:
    """Facts about the data that models, tasks and the loop depend on, and nothing else.

    task: "classification", "segmentation", "domain_generalization" or "panoptic".
    image_size: (H, W) of training images after their transforms, or None where sizes vary.
    in_memory: the evaluation split was held as one tensor and resized/cropped as float batches
    (data.batch_augment) rather than per uint8 image (data.transforms); predict repeats whichever ran.
    class_counts: training images per class (None for per-pixel targets), which loss.class_weights=auto reads.
    """

    task: str
    num_classes: int
    class_names: list[str]
    channels: int
    mean: list[float]
    std: list[float]
    ignore_index: int = 255
    domains: Optional[list[str]] = None
    image_size: Optional[tuple[int, int]] = None
    thing_classes: Optional[list[int]] = None
    in_memory: bool = False
    class_counts: Optional[list[int]] = None
