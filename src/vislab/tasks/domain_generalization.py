"""Domain generalization: classification whose samples carry a domain, a domain head beside the class
head, and metrics per domain.

Loss: the classification loss (label smoothing, class weights, soft CutMix/MixUp targets) plus
``loss.domain_weight`` x the domain head's cross-entropy. Where MixStyle gave sample i the style
lam * own + (1 - lam) * sample j's, its domain target becomes lam * onehot(own domain) + (1 - lam) *
sample j's domain target; mixings after several stages compose in the order applied.

Metrics (the engine adds train_/val_/test_): ``acc`` and ``map`` (class mAP: one-vs-rest average
precision, averaged over the classes present in the split), with the domain head ``domain_acc`` and
``domain_map``, and ``acc_<domain>`` (class accuracy) for every domain present in the split; also
classification's ``f1`` and ``top5``. All reduce across processes.
"""

from __future__ import annotations

import csv
import functools
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy, MulticlassAveragePrecision

from ..config import Config
from ..data.bundle import DataBundle, DataInfo
from ..data.domains import DomainBatchSampler, domain_labels
from ..errors import VislabError
from .classification import ClassificationTask, TorchMetrics, classification_metrics, hard_labels


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


def domain_targets(domain: torch.Tensor, mixes: list, num_domains: int) -> torch.Tensor:
    """The domain head's target: ids [B] where no style was mixed, else soft labels [B, D] composed from
    the MixStyle mixings (lam [B], partner [B]) in the order they were applied."""
    if not mixes:
        return domain
    target = F.one_hot(domain, num_domains).float()
    for lam, partner in mixes:
        lam = lam.to(target).view(-1, 1)
        target = lam * target + (1 - lam) * target[partner]
    return target


def class_inputs(outputs: dict, batch: dict) -> tuple:
    return outputs["logits"].float(), hard_labels(batch["target"])


def domain_inputs(outputs: dict, batch: dict) -> tuple:
    return outputs["domain_logits"].float(), batch["domain"]


def per_domain_inputs(outputs: dict, batch: dict) -> tuple:
    return outputs["logits"], hard_labels(batch["target"]), batch["domain"]


class DomainGeneralizationTask(ClassificationTask):
    """Classification with domain labels: the model answers with a dict (models.domain_generalization);
    the best checkpoint is picked by val_acc, as for classification."""

    def __init__(self, cfg: Config, info: DataInfo) -> None:
        super().__init__(cfg, info)
        self.domains = list(info.domains or [])
        self.domain_head = cfg.model.domain_head
        self.domain_weight = cfg.loss.domain_weight
        self.crossdomain = cfg.model.mixstyle is not None and cfg.model.mixstyle.mix == "crossdomain"
        if self.crossdomain and cfg.train.batch_size < 2:
            raise VislabError("model.mixstyle.mix=crossdomain pairs samples of two domains: train.batch_size must be at least 2")
        if self.crossdomain and cfg.data.sampler == "domain_balanced" and cfg.data.domains_per_batch == 1:
            raise VislabError("model.mixstyle.mix=crossdomain needs two domains per batch: set data.domains_per_batch=2 or more (or null)")

    def forward(self, model: torch.nn.Module, batch: dict) -> dict:
        return model(batch["image"], batch["domain"])

    def class_logits(self, outputs: dict) -> torch.Tensor:
        """The class head's logits [B, C] (beside the domain head's)."""
        return outputs["logits"]

    def loss(self, outputs: dict, batch: dict) -> torch.Tensor:  # type: ignore[override]
        loss = super().loss(outputs["logits"], batch)
        if "domain_logits" in outputs:
            target = domain_targets(batch["domain"], outputs["mixes"], len(self.domains))
            loss = loss + self.domain_weight * F.cross_entropy(outputs["domain_logits"], target)
        return loss

    def metrics(self, train: bool = False) -> MetricGroup:  # type: ignore[override]
        classes = classification_metrics(self.num_classes, train)
        if not train:
            classes["map"] = MeanAveragePrecision(self.num_classes)
        parts = [TorchMetrics(classes, inputs=class_inputs)]
        if self.domain_head:
            n = len(self.domains)
            domain = {"domain_acc": MulticlassAccuracy(n, average="micro")}
            if not train:
                domain["domain_map"] = MeanAveragePrecision(n)
            parts.append(TorchMetrics(domain, inputs=domain_inputs))
        if not train:
            parts.append(TorchMetrics({"per_domain": AccuracyPerDomain(self.domains)}, inputs=per_domain_inputs))
        return MetricGroup(parts)

    def train_sampler(self, bundle: DataBundle) -> Optional[Callable[..., Any]]:
        """``data.sampler``'s batches; else, for cross-domain MixStyle, batches of two domains each."""
        if bundle.train_sampler is not None or not self.crossdomain:
            return bundle.train_sampler  # domain_balanced batches hold the domains_per_batch (>= 2) domains
        return functools.partial(DomainBatchSampler, domains=domain_labels(bundle.train))

    def predict_files(  # type: ignore[override]
        self, model: torch.nn.Module, files: list[Path], *, cfg: Config, info: DataInfo, device: torch.device,
        out: Optional[Path] = None, topk: int = 5,
    ) -> list[dict[str, Any]]:
        """Classes of image files, as classification predicts them (see ClassificationTask.predict_files)."""
        return super().predict_files(
            lambda x: self.class_logits(model(x)), files, cfg=cfg, info=info, device=device, out=out, topk=topk
        )

    def finalize(self, artifacts_dir: Path, predictions: Iterable[tuple[Any, dict]], bundle: DataBundle) -> dict:
        """Classification's artifacts, plus per_domain.csv: support and class accuracy per domain (and the
        domain head's accuracy)."""
        domain, hit, named = [], [], []

        def class_logits() -> Iterable[tuple[torch.Tensor, dict]]:
            for outputs, batch in predictions:
                domain.append(batch["domain"].cpu())
                hit.append((self.class_logits(outputs).argmax(1) == hard_labels(batch["target"])).cpu())
                if self.domain_head:
                    named.append((outputs["domain_logits"].argmax(1) == batch["domain"]).cpu())
                yield self.class_logits(outputs), batch

        extra = super().finalize(artifacts_dir, class_logits(), bundle)
        if domain:
            write_domain_table(artifacts_dir / "per_domain.csv", self.domains, torch.cat(domain), torch.cat(hit),
                               torch.cat(named) if named else None)
        return extra


def write_domain_table(
    path: Path, domains: list[str], domain: torch.Tensor, hit: torch.Tensor, domain_hit: Optional[torch.Tensor]
) -> None:
    """per_domain.csv from per-sample domain ids [N], class hits [N] and domain-head hits [N] (or None)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["domain", "support", "correct", "accuracy", *(["domain_accuracy"] if domain_hit is not None else [])])
        for i, name in enumerate(domains):
            mine = domain == i
            n = int(mine.sum())
            row = [name, n, int(hit[mine].sum()), f"{float(hit[mine].float().mean()):.4f}" if n else ""]
            if domain_hit is not None:
                row.append(f"{float(domain_hit[mine].float().mean()):.4f}" if n else "")
            w.writerow(row)
