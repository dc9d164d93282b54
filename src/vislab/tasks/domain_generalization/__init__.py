"""Domain generalization: the task (steps), metrics per domain and artifacts."""

from .metrics import AccuracyPerDomain, MeanAveragePrecision
from .task import DomainGeneralizationTask, domain_targets

__all__ = ["AccuracyPerDomain", "DomainGeneralizationTask", "MeanAveragePrecision", "domain_targets"]
