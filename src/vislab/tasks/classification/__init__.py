"""Image classification: the task (steps), its metrics, artifacts and prediction on files."""

from .metrics import TorchMetrics, classification_metrics, hard_labels
from .task import ClassificationTask

__all__ = ["ClassificationTask", "TorchMetrics", "classification_metrics", "hard_labels"]
