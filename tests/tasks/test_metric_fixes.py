"""Metric bugs of issue 14 (item 6), each pinned by the numbers it got wrong."""

from __future__ import annotations

import csv

import pytest
import torch

from vislab.config import resolve
from vislab.data.bundle import DataInfo
from vislab.tasks.domain_generalization import DomainGeneralizationTask
from vislab.tasks.domain_generalization.artifacts import write_domain_table
from vislab.tasks.segmentation.metrics import confusion

DOMAINS = ["original", "inverted", "tinted"]


def dg_task(**overrides):
    cfg = resolve("digits-dg-mixstyle", {"model.domain_head": True, **overrides})
    info = DataInfo("domain_generalization", 2, ["a", "b"], 3, [0.5] * 3, [0.2] * 3, domains=DOMAINS)
    return DomainGeneralizationTask(cfg, info)


def test_map_ranks_every_batch_on_probabilities_not_raw_logits():
    # torchmetrics softmaxes a batch only when a value lies outside [0, 1]: these logits would be taken as
    # probabilities (mAP 0.75) while the softmax ranks both positives second (mAP 0.5)
    metrics = dg_task().metrics()
    logits = torch.tensor([[0.9, 0.8], [0.5, 0.0]])
    batch = {"target": torch.tensor([0, 1]), "domain": torch.tensor([1, 2])}
    metrics.update({"logits": logits, "domain_logits": torch.tensor([[-3.0, 2.0, 1.0], [0.0, 0.1, 0.2]])}, batch)
    assert metrics.compute()["map"] == pytest.approx(0.5)


def test_confusion_of_a_uint8_target_does_not_wrap():
    # 21 classes: class 20's code 20 * 21 + 20 = 440 wrapped to 184 in uint8 (true class 8, predicted 16)
    target = torch.tensor([[20, 13]], dtype=torch.uint8)
    pred = torch.tensor([[20, 12]])
    matrix = confusion(pred, target, 21, 255)
    assert matrix[20, 20] == 1 and matrix[13, 12] == 1 and matrix.sum() == 2


def test_the_domain_head_is_not_scored_on_a_held_out_domain(tmp_path):
    task = dg_task(**{"data.protocol": "lodo", "data.test_domain": "original"})
    held_out = task.metrics()
    batch = {"target": torch.tensor([0, 1]), "domain": torch.tensor([0, 0])}
    outputs = {"logits": torch.tensor([[2.0, 0.0], [0.0, 2.0]]), "domain_logits": torch.tensor([[0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])}
    held_out.update(outputs, batch)
    values = held_out.compute()
    assert values["acc"] == 1.0 and "domain_acc" not in values and "domain_map" not in values
    trained = task.metrics()
    trained.update(outputs, {**batch, "domain": torch.tensor([1, 2])})
    assert trained.compute()["domain_acc"] == 1.0

    write_domain_table(tmp_path / "per_domain.csv", DOMAINS, torch.tensor([0, 1, 2]), torch.tensor([True, True, False]),
                       torch.tensor([False, True, True]), held_out=[0])
    with open(tmp_path / "per_domain.csv") as f:
        rows = {r["domain"]: r for r in csv.DictReader(f)}
    assert rows["original"]["domain_accuracy"] == "" and "held out" in rows["original"]["note"]
    assert rows["inverted"]["domain_accuracy"] == "1.0000" and rows["inverted"]["note"] == ""
