"""Semantic segmentation: the task (steps, whole-image and sliding-window evaluation), its metrics,
artifacts and prediction on files."""

from .metrics import ConfusionMatrix, SegmentationMetrics, image_sizes, labels, metric_name, scores
from .task import SegmentationTask

__all__ = ["ConfusionMatrix", "SegmentationMetrics", "SegmentationTask", "image_sizes", "labels",
           "metric_name", "scores"]
