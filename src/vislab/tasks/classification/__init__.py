"""Image classification: the task (steps), its metrics, artifacts and prediction on files."""

from .metrics import classification_metrics
from .task import ClassificationTask

__all__ = ["ClassificationTask", "classification_metrics"]
