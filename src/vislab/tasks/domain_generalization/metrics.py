"""Domain-generalization metrics: class mAP, domain head accuracy and mAP, class accuracy per domain."""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F

from ...metric import Metric
from ..metrics import MetricSet, hard_labels


def average_precision(scores: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """Exact average precision of scores [N] against bool ``positive`` [N] (at least one): the sum over the
    distinct scores, highest first, of precision times the recall gained, ties taken together. As
    torchmetrics' binary curve computes it, operation for operation; tests/tasks/test_metrics.py holds it to
    scikit-learn's average_precision_score."""
    order = torch.argsort(scores, descending=True)
    scores, positive = scores[order], positive[order]
    last_of_ties = F.pad(torch.where(scores[1:] - scores[:-1])[0], [0, 1], value=len(scores) - 1)
    tps = torch.cumsum(positive.long() * 1.0, dim=0)[last_of_ties]
    fps = 1 + last_of_ties - tps
    precision = torch.cat([(tps / (tps + fps)).flip(0), tps.new_ones(1)])
    recall = torch.cat([(tps / tps[-1]).flip(0), tps.new_zeros(1)])
    return -torch.sum((recall[1:] - recall[:-1]) * precision[:-1])


class MeanAveragePrecision(Metric):
    """Macro average precision (one-vs-rest, exact, no thresholds) of class probabilities [B, C] against
    class ids [B], over the classes present in the data: a class without positive samples has no average
    precision and is left out of the mean (nan when no class has any)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.add_state("preds", torch.zeros(0, num_classes), dist_reduce_fx="cat")
        self.add_state("target", torch.zeros(0, dtype=torch.long), dist_reduce_fx="cat")

    def update(self, probs: torch.Tensor, target: torch.Tensor) -> None:
        self.preds.append(probs)
        self.target.append(target)

    def value(self) -> torch.Tensor:
        preds, target = self.joined("preds"), self.joined("target")
        present = [c for c in range(self.num_classes) if bool((target == c).any())]
        per_class = [average_precision(preds[:, c], target == c) for c in present]
        return torch.stack(per_class).mean() if per_class else torch.tensor(torch.nan)


class AccuracyPerDomain(Metric):
    """Class accuracy within each domain: update(logits [B, K], target [B], domain [B]); compute() ->
    {"acc_<domain>": value} for the domains that had samples."""

    def __init__(self, domains: list[str]) -> None:
        super().__init__()
        self.domains = domains
        self.add_state("correct", torch.zeros(len(domains), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros(len(domains), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, target: torch.Tensor, domain: torch.Tensor) -> None:
        onehot = F.one_hot(domain, len(self.domains))
        self.correct += onehot[logits.argmax(1) == target].sum(0)
        self.total += onehot.sum(0)

    def value(self) -> dict[str, torch.Tensor]:
        return {f"acc_{name}": self.correct[i] / self.total[i] for i, name in enumerate(self.domains) if self.total[i] > 0}


class MetricGroup:
    """Several accumulators, fed from different parts of the outputs, used as one: names merged, states
    kept apart by part (for mid-epoch checkpoints)."""

    def __init__(self, parts: list[MetricSet]) -> None:
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
    """Class probabilities [B, C], not logits: average precision ranks the scores of all batches together,
    and a batch's logits lie on a scale of their own."""
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

    def __init__(self) -> None:
        super().__init__()
        self.add_state("n", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        self.n += len(target)

    def value(self) -> torch.Tensor:
        return self.n


class DomainHeadMetrics(MetricSet):
    """The domain head's metrics over the samples of trained domains; none at all for a split without any
    (a leave-one-domain-out test split), rather than an accuracy of 0 and an mAP of 1 that mean nothing."""

    def __init__(self, metrics: dict, trained: torch.Tensor) -> None:
        super().__init__({**metrics, "samples": SampleCount()}, inputs=functools.partial(domain_inputs, trained))

    def compute(self) -> dict[str, float]:
        if int(self.metrics["samples"].compute()) == 0:
            return {}
        values = super().compute()
        values.pop("samples")
        return values

    def peek(self) -> dict[str, float]:
        values = super().peek() if int(self.metrics["samples"].n) else {}
        values.pop("samples", None)
        return values
