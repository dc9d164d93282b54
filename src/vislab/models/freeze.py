"""``model.freeze``: named stages stop learning, and their BatchNorm layers keep their statistics.

A stage is a dotted submodule name (``layer1``, ``features.3``) or ``stem``, the modules that take the
input image. Freezing turns off the stage's gradients and keeps each of its BatchNorm layers in
evaluation mode for good: the loop's ``model.train()`` would otherwise let them re-estimate their
running statistics, and normalize with batch statistics, on the new data.
"""

from __future__ import annotations

import difflib

from torch import nn

from ..errors import VislabError

_FROZEN_CLASSES: dict[type, type] = {}


class _AlwaysEval:
    """Mixed into a BatchNorm layer's class: ``train()`` leaves it in evaluation mode."""

    def train(self, mode: bool = True):  # noqa: ARG002 - the point is to ignore mode
        return super().train(False)  # type: ignore[misc]


def keep_in_eval(module: nn.Module) -> None:
    """Give ``module`` a subclass of its own class whose ``train()`` is a no-op: the state dict, the
    forward and isinstance checks are unchanged."""
    cls = type(module)
    if not isinstance(module, _AlwaysEval):
        if cls not in _FROZEN_CLASSES:
            _FROZEN_CLASSES[cls] = type(f"Frozen{cls.__name__}", (_AlwaysEval, cls), {})
        module.__class__ = _FROZEN_CLASSES[cls]
    module.eval()


def stage_names(model: nn.Module) -> list[str]:
    """Names a user may freeze: the top-level modules, and those one level inside a top-level container."""
    names = []
    for name, child in model.named_children():
        names.append(name)
        if isinstance(child, (nn.Sequential, nn.ModuleList)):
            names.extend(f"{name}.{sub}" for sub, _ in child.named_children())
    return names


def unknown_stage(model: nn.Module, stage: str, key: str, with_stem: bool = True) -> VislabError:
    """Bad input: ``key`` names a stage the model does not have; lists the close names and all of them."""
    names = ["stem", *stage_names(model)] if with_stem else stage_names(model)
    close = difflib.get_close_matches(stage, names, n=4, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return VislabError(f"{key}: this model has no stage '{stage}'; {hint}stages are {', '.join(names)}")


def freeze(model: nn.Module, stages: list[str], stem: list[str]) -> None:
    """Freeze ``stages`` of ``model`` (``stem`` says which modules the name "stem" stands for)."""
    modules = dict(model.named_modules())
    for stage in stages:
        names = stem if stage == "stem" else [stage]
        for name in names:
            if name not in modules or name == "":
                raise unknown_stage(model, stage, "model.freeze")
            module = modules[name]
            for p in module.parameters():
                p.requires_grad_(False)
            for m in module.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    keep_in_eval(m)


def first_conv(model: nn.Module) -> str:
    """Name of the first convolution, the one that sees the image."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            return name
    raise VislabError(f"{type(model).__name__} has no convolution to adapt to the data's channels")


def default_stem(model: nn.Module) -> list[str]:
    """The modules that take the image: the first convolution's stage (one level inside a top-level
    container such as ``features``), plus the BatchNorm that follows a bare convolution (``conv1``, ``bn1``)."""
    parts = first_conv(model).split(".")
    depth = 2 if isinstance(getattr(model, parts[0]), (nn.Sequential, nn.ModuleList)) and len(parts) > 1 else 1
    name = ".".join(parts[:depth])
    parent = model.get_submodule(".".join(parts[: depth - 1])) if depth > 1 else model
    siblings = list(parent.named_children())
    stem = [name]
    position = [n for n, _ in siblings].index(parts[depth - 1])
    if isinstance(siblings[position][1], nn.Conv2d) and position + 1 < len(siblings):
        after_name, after = siblings[position + 1]
        if isinstance(after, nn.modules.batchnorm._BatchNorm):
            stem.append(".".join(parts[: depth - 1] + [after_name]))
    return stem
