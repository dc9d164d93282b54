"""The training batch sampler ``data.sampler`` names, built over a bundle's training split."""

from __future__ import annotations

import functools
from typing import Callable, Optional

from ...config import DataConfig
from ..bundle import DataBundle
from .class_balance import ClassBalancedSampler, class_labels
from .domain_balanced import DomainBalancedSampler, domain_labels
from .sampling import EpochBatchSampler


def train_sampler(cfg: DataConfig, bundle: DataBundle) -> Optional[Callable[..., EpochBatchSampler]]:
    """The training batch sampler ``data.sampler`` names, called like EpochBatchSampler; None: the seeded
    shuffle (``random``), and where the data lacks what the sampler draws by (domains, or a class per image),
    which config.combinations refuses before any training."""
    if cfg.sampler == "domain_balanced" and bundle.info.domains is not None:
        return functools.partial(DomainBalancedSampler, domains=domain_labels(bundle.train),
                                 per_batch=cfg.domains_per_batch)
    if cfg.sampler == "class_balanced":
        labels = class_labels(bundle.train, bundle.info.task)
        return None if labels is None else functools.partial(ClassBalancedSampler, labels=labels)
    return None
