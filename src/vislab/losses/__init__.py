"""Segmentation losses by name, combined with weights (``loss.terms``).

Each family has its own module and a binary form for two-class masks (on the foreground logit, see
common.binary_logit). In all of them pixels whose target is ``ignore_index`` take no part.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from ..errors import VislabError
from .ce import binary_cross_entropy, cross_entropy
from .dice import binary_dice, dice
from .focal import binary_focal, focal
from .lovasz import lovasz_hinge, lovasz_softmax
from .tversky import binary_tversky, tversky

# name -> (multi-class form, binary form)
LOSSES: dict[str, tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]] = {
    "ce": (cross_entropy, binary_cross_entropy),
    "dice": (dice, binary_dice),
    "focal": (focal, binary_focal),
    "lovasz": (lovasz_softmax, lovasz_hinge),
    "tversky": (tversky, binary_tversky),
}
# the term keys each form reads, with their defaults
PARAMS: dict[tuple[str, bool], dict[str, Any]] = {
    ("ce", False): {}, ("ce", True): {},
    ("dice", False): {}, ("dice", True): {},
    ("focal", False): {"gamma": 2.0}, ("focal", True): {"gamma": 2.0, "alpha": None},
    ("lovasz", False): {}, ("lovasz", True): {},
    ("tversky", False): {"alpha": 0.5, "beta": 0.5}, ("tversky", True): {"alpha": 0.5, "beta": 0.5},
}
TERM_KEYS = ("gamma", "alpha", "beta")


def check_terms(terms: Sequence[Any], num_classes: int) -> None:
    """Refuse terms that cannot work: an unknown name, a key the term does not read (e.g. ``gamma`` on dice),
    a binary form for a model with more than two classes."""
    for i, term in enumerate(terms):
        where = f"loss.terms[{i}]"
        if term.name not in LOSSES:
            raise VislabError(f"{where}.name: unknown loss '{term.name}'; choose from {', '.join(LOSSES)}")
        if term.binary and num_classes > 2:
            raise VislabError(f"{where}.binary: the binary form needs two classes (or one output), this model has {num_classes}; "
                              f"set binary: false")
        reads = PARAMS[term.name, term.binary]
        for key in TERM_KEYS:
            if getattr(term, key) is not None and key not in reads:
                form = "binary " if term.binary else ""
                raise VislabError(f"{where}.{key}: the {form}{term.name} loss has no {key} "
                                  f"({'it reads ' + ', '.join(reads) if reads else 'it takes no parameter'}); remove it")


def build_loss(terms: Sequence[Any], ignore_index: int, weight: torch.Tensor | None = None, label_smoothing: float = 0.0,
               topk: float | None = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """loss(logits [B, K, H, W], target [B, H, W]) -> scalar: the sum of each term's loss times its weight.
    ``weight``, ``label_smoothing`` and ``topk`` (loss.class_weights, loss.label_smoothing, loss.topk) apply
    to the multi-class ``ce`` term."""
    parts = []
    for term in terms:
        fn = LOSSES[term.name][int(term.binary)]
        kwargs = {k: getattr(term, k) if getattr(term, k) is not None else v for k, v in PARAMS[term.name, term.binary].items()}
        if (term.name, term.binary) == ("ce", False):
            kwargs = {"weight": weight, "label_smoothing": label_smoothing, "topk": topk}
        parts.append((term.weight, fn, kwargs))

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = logits.new_zeros((), dtype=torch.float32)
        for w, fn, kwargs in parts:
            if "weight" in kwargs and kwargs["weight"] is not None:
                kwargs = {**kwargs, "weight": kwargs["weight"].to(logits.device)}
            total = total + w * fn(logits, target, ignore_index, **kwargs)
        return total

    return loss
