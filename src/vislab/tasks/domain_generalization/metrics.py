"""Domain-generalization metrics: class mAP, domain head accuracy and mAP, class accuracy per domain."""

from __future__ import annotations

import functools
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAveragePrecision

from ..torch_metrics import TorchMetrics, hard_labels


class MeanAveragePrecision(MulticlassAveragePrecision):
    """Macro average precision (one-vs-rest, exact, no thresholds) over the classes present in the data:
    a class without positive samples has no average precision and is left out of the mean."""

    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes, average=None, thresholds=None)

    def compute(self) -> torch.Tensor:
        with warnings.catch_warnings():  # about the classes without samples, which are left out on purpose
            warnings.simplefilter("ignore", UserWarning)
            per_class = super().compute()
        return per_class[~per_class.isnan()].mean()


class AccuracyPerDomain(Metric):
    """Class accuracy within each domain: update(logits [B, K], target [B], domain [B]); compute() ->
    {"acc_<domain>": value} for the domains that had samples."""

    full_state_update = False

    def __init__(self, domains: list[str]) -> None:
        super().__init__()
        self.domains = domains
        self.add_state("correct", torch.zeros(len(domains), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros(len(domains), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, target: torch.Tensor, domain: torch.Tensor) -> None:
        onehot = F.one_hot(domain, len(self.domains))
        self.correct += onehot[logits.argmax(1) == target].sum(0)
        self.total += onehot.sum(0)

    def compute(self) -> dict[str, torch.Tensor]:
        return {f"acc_{name}": self.correct[i] / self.total[i] for i, name in enumerate(self.domains) if self.total[i] > 0}


class MetricGroup:
    """Several accumulators, fed from different parts of the outputs, used as one: names merged, states
    kept apart by part (for mid-epoch checkpoints)."""

    def __init__(self, parts: list[TorchMetrics]) -> None:
        self.parts = parts

    def update(self, outputs: Any, batch: dict) -> None:
        for part in self.parts:
            part.update(outputs, batch)

    def compute(self) -> dict[str, float]:
        return {k: v for part in self.parts for k, v in part.compute().items()}

    def peek(self) -> dict[str, float]:
        return {k: v for part in self.parts for k, v in part.peek().items()}

    def reset(self) -> None:
        for part in self.parts:
            part.reset()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {f"{i}:{k}": v for i, part in enumerate(self.parts) for k, v in part.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for i, part in enumerate(self.parts):
            part.load_state_dict({k.split(":", 1)[1]: v for k, v in state.items() if k.split(":", 1)[0] == str(i)})


def class_inputs(outputs: dict, batch: dict) -> tuple:
    """Class probabilities [B, C], not logits: torchmetrics' average precision softmaxes a batch only when
    some value lies outside [0, 1], so logits would be ranked on different scales from batch to batch."""
    return outputs["logits"].float().softmax(1), hard_labels(batch["target"])


def domain_inputs(trained: torch.Tensor, outputs: dict, batch: dict) -> tuple:
    """Domain-head probabilities [b, D] and domains [b] of the samples whose domain was trained on (bool
    ``trained`` [D]): on a held-out domain the head can only be wrong, which says nothing about it."""
    keep = trained.to(batch["domain"].device)[batch["domain"]]
    return outputs["domain_logits"].float()[keep].softmax(1), batch["domain"][keep]


def per_domain_inputs(outputs: dict, batch: dict) -> tuple:
    return outputs["logits"], hard_labels(batch["target"]), batch["domain"]


class SampleCount(Metric):
    """How many samples a metric collection was fed (update(preds [B, ...], target [B]))."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("n", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.n += len(target)

    def compute(self) -> torch.Tensor:
        return self.n


class DomainHeadMetrics(TorchMetrics):
    """The domain head's metrics over the samples of trained domains; none at all for a split without any
    (a leave-one-domain-out test split), rather than an accuracy of 0 and an mAP of 1 that mean nothing."""

    def __init__(self, metrics: dict, trained: torch.Tensor) -> None:
        super().__init__({**metrics, "samples": SampleCount()}, inputs=functools.partial(domain_inputs, trained))
        self.trained = trained

    def update(self, outputs: Any, batch: dict) -> None:
        if bool(self.trained.to(batch["domain"].device)[batch["domain"]].any()):  # torchmetrics refuses empty batches
            super().update(outputs, batch)

    def compute(self) -> dict[str, float]:
        with warnings.catch_warnings():  # "compute before update": on a process that saw no trained domain
            warnings.simplefilter("ignore", UserWarning)
            seen = int(self.collection["samples"].compute())
        if seen == 0:
            return {}
        values = super().compute()
        values.pop("samples")
        return values

    def peek(self) -> dict[str, float]:
        values = super().peek() if int(self.collection["samples"].n) else {}
        values.pop("samples", None)
        return values
