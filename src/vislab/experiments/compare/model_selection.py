"""DomainBed's three model-selection rules (Gulrajani & Lopez-Paz, ICLR 2021; domainbed/model_selection.py), each a
class with one interface: for one (test domain, seed), score every hyperparameter setting; the table reports the
best-scoring setting's accuracy on the in part of the test domain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np


@dataclass(frozen=True)
class Result:
    """One run's accuracies: on the training domains' validation split, and on the test domain's in and out parts."""

    val: float
    test_in: float
    test_out: float


Cell = dict[tuple[str, Any], dict[str, Result]]  # (domain, seed) -> hyperparameters -> the run's accuracies


class SelectionRule:
    """A model-selection rule: for one (test domain, seed), score each hyperparameter setting; the best-scoring
    setting's in-part test accuracy is what the table reports."""

    name = ""

    def score(self, cells: Cell, domain: str, seed: Any, hparams: str) -> Optional[float]:
        raise NotImplementedError

    def pick(self, cells: Cell, domain: str, seed: Any) -> Optional[float]:
        """The test accuracy (in part) of the setting this rule picks for (domain, seed); None without one."""
        options = cells.get((domain, seed), {})
        scores = {h: s for h in options if (s := self.score(cells, domain, seed, h)) is not None}
        return options[max(scores, key=scores.get)].test_in if scores else None


class TrainingDomainValidation(SelectionRule):
    """The highest accuracy on the validation split of the training domains (DomainBed's IIDAccuracySelectionMethod)."""

    name = "training-domain validation"

    def score(self, cells: Cell, domain: str, seed: Any, hparams: str) -> Optional[float]:
        return cells[(domain, seed)][hparams].val


class LeaveOneDomainOut(SelectionRule):
    """The highest mean accuracy on the other domains when they were held out: the same setting's runs with
    those test domains. Unlike DomainBed's, whose runs leave out two domains, those runs also trained on this
    test domain, so the rule is a little optimistic."""

    name = "leave-one-domain-out"

    def score(self, cells: Cell, domain: str, seed: Any, hparams: str) -> Optional[float]:
        others = [options[hparams].test_in for (d, s), options in cells.items() if d != domain and s == seed and hparams in options]
        return float(np.mean(others)) if others else None


class Oracle(SelectionRule):
    """The highest accuracy on the test domain's out part (DomainBed's OracleSelectionMethod): an upper bound,
    not a method."""

    name = "oracle"

    def score(self, cells: Cell, domain: str, seed: Any, hparams: str) -> Optional[float]:
        return cells[(domain, seed)][hparams].test_out


RULES: list[SelectionRule] = [TrainingDomainValidation(), LeaveOneDomainOut(), Oracle()]
