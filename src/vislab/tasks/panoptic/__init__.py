"""Panoptic-style multi-task segmentation: the task (steps), panoptic quality, artifacts and the grouping
of the heads into instances."""

from .metrics import PanopticQuality, pq_counts, pq_scores
from .predict import find_centers, panoptic_maps
from .task import PanopticTask

__all__ = ["PanopticQuality", "PanopticTask", "find_centers", "panoptic_maps", "pq_counts",
           "pq_scores"]
