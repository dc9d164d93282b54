"""Which ``semisup.*``, ``loss.distill.*`` and unlabeled-data keys each scheme reads; a key set for a scheme
that does not read it, or a scheme without what it needs, is bad input. Checked on the config alone,
before torch is imported and before anything is written."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..config import Config, SemisupConfig
from ..config.schema import SEMISUP_READS as READS
from ..errors import VislabError


def unread_keys(flat: dict[str, Any]) -> set[str]:
    """The semisup.* keys of a flattened config that its semisup.method does not read: a run records them at
    their defaults (semisup.method=none drops the recipe's), and they say nothing about how it trained."""
    reads = READS.get(flat.get("semisup.method") or "none", set())
    return {k for k in flat if k.startswith("semisup.") and k != "semisup.method" and k.split(".")[1] not in reads}


def has_pool(cfg: Config) -> bool:
    """Whether the run has unlabeled images (a labeled subset leaves the rest, or a folder adds some)."""
    d = cfg.data
    return d.labeled_per_class is not None or d.labeled_fraction is not None or d.unlabeled_root is not None


def check(cfg: Config) -> None:
    """Refuse settings that do nothing or cannot work (see the module docstring)."""
    method = cfg.semisup.method
    defaults = SemisupConfig()
    for f in dataclasses.fields(SemisupConfig):
        if f.name != "method" and f.name not in READS[method] and getattr(cfg.semisup, f.name) != getattr(defaults, f.name):
            readers = sorted(m for m, keys in READS.items() if f.name in keys)
            raise VislabError(f"semisup.{f.name} applies to semisup.method={' or '.join(readers)}, not {method}; remove it")
    if method != "none" and not has_pool(cfg):
        raise VislabError(f"semisup.method={method} needs unlabeled images: set data.labeled_per_class, "
                          "data.labeled_fraction or data.unlabeled_root")
    if method == "none" and cfg.data.unlabeled_root is not None:
        raise VislabError("data.unlabeled_root is only read by a semi-supervised method; set semisup.method or remove it")
    if method == "noisy_student" and cfg.semisup.teacher is None:
        raise VislabError("semisup.method=noisy_student needs semisup.teacher=RUN_DIR (or use `vislab selftrain`)")
    distill = cfg.loss.distill
    if distill is not None:
        if distill.teacher is None:
            raise VislabError("loss.distill needs loss.distill.teacher=RUN_DIR, a finished run to learn from")
        if distill.temperature <= 0:
            raise VislabError(f"loss.distill.temperature must be above 0, got {distill.temperature}")
        if method != "none":
            raise VislabError(f"loss.distill and semisup.method={method} each bring a teacher; use one of them")
