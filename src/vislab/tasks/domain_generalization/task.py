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

import functools
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch
import torch.nn.functional as F

from ...config import Config
from ...data.bundle import DataBundle, DataInfo
from ...data.families.domain_splits import DomainBatchSampler, held_out_domain
from ...data.loading.domain_balanced import domain_labels
from ...errors import VislabError
from ...models.domain_generalization import with_domains
from ..classification import ClassificationTask, classification_metrics
from ..classification.metrics import Accuracy
from ..metrics import MetricSet, hard_labels
from .artifacts import write_domain_table
from .metrics import AccuracyPerDomain, DomainHeadMetrics, MeanAveragePrecision, MetricGroup, class_inputs, per_domain_inputs


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


class DomainGeneralizationTask(ClassificationTask):
    reads = {"loss": ("label_smoothing", "class_weights", "domain_weight"), "eval": ("tta.flip", "explain")}
    """Classification with domain labels: the model answers with a dict (models.domain_generalization);
    the best checkpoint is picked by val_acc, as for classification."""

    name = "domain_generalization"
    domains = True

    def __init__(self, cfg: Config, info: DataInfo) -> None:
        super().__init__(cfg, info)
        self.domain_names = list(info.domains or [])
        self.domain_head = cfg.model.domain_head
        self.domain_weight = cfg.loss.domain_weight
        self.crossdomain = cfg.model.mixstyle is not None and cfg.model.mixstyle.mix == "crossdomain"
        self.held_out = [held_out_domain(cfg.data, self.domain_names)] if cfg.data.protocol == "lodo" and self.domain_names else []
        self.trained = torch.tensor([i not in self.held_out for i in range(len(self.domain_names))])
        if self.crossdomain and cfg.train.batch_size < 2:
            raise VislabError("model.mixstyle.mix=crossdomain pairs samples of two domains: train.batch_size must be at least 2")
        if self.crossdomain and cfg.data.sampler == "domain_balanced" and cfg.data.domains_per_batch == 1:
            raise VislabError("model.mixstyle.mix=crossdomain needs two domains per batch: set data.domains_per_batch=2 or more (or null)")

    def build_model(self, cfg: Config, info: DataInfo) -> torch.nn.Module:
        """The classifier in a DomainGeneralizationNet: domain head and MixStyle as ``model.*`` asks."""
        return with_domains(super().build_model(cfg, info), cfg.model, info)

    def forward(self, model: torch.nn.Module, batch: dict) -> dict:
        return model(batch["image"], batch["domain"])

    def class_logits(self, outputs: dict) -> torch.Tensor:
        """The class head's logits [B, C] (beside the domain head's)."""
        return outputs["logits"]

    def sample_records(self, outputs: Any, batch: dict) -> dict[str, torch.Tensor]:
        """Classification's rows and each image's domain."""
        return {**super().sample_records(outputs, batch), "domain": batch["domain"].short()}

    def loss(self, outputs: dict, batch: dict) -> torch.Tensor:  # type: ignore[override]
        loss = super().loss(outputs["logits"], batch)
        if "domain_logits" in outputs:
            target = domain_targets(batch["domain"], outputs["mixes"], len(self.domain_names))
            loss = loss + self.domain_weight * F.cross_entropy(outputs["domain_logits"], target)
        return loss

    def metrics(self, train: bool = False) -> MetricGroup:  # type: ignore[override]
        classes = classification_metrics(self.num_classes, train)
        if not train:
            classes["map"] = MeanAveragePrecision(self.num_classes)
        parts = [MetricSet(classes, inputs=class_inputs)]
        if self.domain_head:
            n = len(self.domain_names)
            domain = {"domain_acc": Accuracy()}
            if not train:
                domain["domain_map"] = MeanAveragePrecision(n)
            parts.append(DomainHeadMetrics(domain, self.trained))
        if not train:
            parts.append(MetricSet({"per_domain": AccuracyPerDomain(self.domain_names)}, inputs=per_domain_inputs))
        return MetricGroup(parts)

    def train_sampler(self, bundle: DataBundle) -> Optional[Callable[..., Any]]:
        """``data.sampler``'s batches; else, for cross-domain MixStyle, batches of two domains each."""
        if bundle.train_sampler is not None or not self.crossdomain:
            return bundle.train_sampler  # domain_balanced batches hold the domains_per_batch (>= 2) domains
        return functools.partial(DomainBatchSampler, domains=domain_labels(bundle.train))

    def finalize(self, artifacts_dir: Path, predictions: Iterable[tuple[Any, dict]], bundle: DataBundle,
                 model: torch.nn.Module) -> dict:
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

        extra = super().finalize(artifacts_dir, class_logits(), bundle, model)
        if domain:
            write_domain_table(artifacts_dir / "per_domain.csv", self.domain_names, torch.cat(domain), torch.cat(hit),
                               torch.cat(named) if named else None, self.held_out)
        return extra


