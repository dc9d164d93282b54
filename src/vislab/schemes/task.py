"""A task trained with a scheme: ``SchemeTask`` answers the members of the task interface a scheme decides
(schemes/scheme.py) from the scheme, and every other member from the base task, so validation, metrics, artifacts
and prediction stay the base task's and a member added to ``Task`` needs no line here.

Adding a scheme: one module with a ``Scheme`` subclass, and its line in ``SCHEMES``; its ``semisup.*`` keys and
method name go in config.schema (``SemisupConfig``, ``SEMISUP_READS``), where the config is checked before torch.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from ..config import Config
from ..data.bundle import DataBundle
from ..tasks.base import StepContext, Stream, Task
from .distillation import Distillation
from .fixmatch import FixMatch
from .mean_teacher import MeanTeacher
from .noisy_student import NoisyStudent
from .scheme import Scheme

# semisup.method -> its scheme; "distillation" is chosen by loss.distill.
SCHEMES: dict[str, type[Scheme]] = {
    FixMatch.name: FixMatch,
    MeanTeacher.name: MeanTeacher,
    NoisyStudent.name: NoisyStudent,
    Distillation.name: Distillation,
}


class SchemeTask:
    """``base`` trained with ``scheme``; see the module docstring."""

    def __init__(self, base: Task, scheme: Scheme) -> None:
        self.base, self.scheme = base, scheme
        self.evaluated_model: Optional[str] = scheme.evaluated_model

    def __getattr__(self, name: str) -> Any:
        """Every member the scheme does not decide is the base task's (called only for names not found here)."""
        base = self.__dict__.get("base")
        if base is None:  # while being copied or unpickled, before __init__'s attributes exist
            raise AttributeError(name)
        return getattr(base, name)

    def extra_models(self, model: nn.Module) -> dict[str, nn.Module]:
        return {**self.base.extra_models(model), **self.scheme.extra_models(model)}

    def extra_streams(self, bundle: DataBundle) -> dict[str, Stream]:
        return {**self.base.extra_streams(bundle), **self.scheme.extra_streams(bundle)}

    def training_step(self, model: nn.Module, batch: dict, ctx: StepContext) -> tuple[torch.Tensor, Any]:
        return self.scheme.step(model, batch, ctx)

    def after_optimizer_step(self, model: nn.Module, ctx: StepContext) -> None:
        self.base.after_optimizer_step(model, ctx)
        self.scheme.after_optimizer_step(model, ctx)


def scheme_name(cfg: Config) -> Optional[str]:
    """The scheme the config names: ``semisup.method``, else distillation where ``loss.distill`` is set, else None."""
    if cfg.semisup.method != "none":
        return cfg.semisup.method
    return Distillation.name if cfg.loss.distill is not None else None


def wrap(task: Task, cfg: Config, bundle: DataBundle) -> Task:
    """``task`` itself, or wrapped in the scheme the config names (a teacher is checked and loaded here,
    before any run directory exists)."""
    name = scheme_name(cfg)
    if name is None:
        return task
    return SchemeTask(task, SCHEMES[name](task, cfg, bundle))  # type: ignore[return-value]
