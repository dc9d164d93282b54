"""The domain-generalization task: its metrics against scikit-learn, the domain head's soft targets under
MixStyle, what a run leaves behind, and an exact resume with cross-domain mixing."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
import vislab
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import average_precision_score

from vislab.config import resolve
from vislab.data.bundle import DataInfo
from vislab.engine import load_checkpoint
from vislab.tasks.domain_generalization import AccuracyPerDomain, DomainGeneralizationTask, MeanAveragePrecision, domain_targets

SCORES = np.array([
    [0.7, 0.2, 0.1], [0.4, 0.5, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6],
    [0.3, 0.6, 0.1], [0.6, 0.1, 0.3], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5], [0.3, 0.3, 0.4],
])
LABELS = np.array([0, 1, 2, 1, 2, 0, 0, 1, 1, 2])


def test_map_is_scikit_learns_macro_average_precision():
    metric = MeanAveragePrecision(3)
    metric.update(torch.tensor(SCORES[:6]), torch.tensor(LABELS[:6]))  # over two batches
    metric.update(torch.tensor(SCORES[6:]), torch.tensor(LABELS[6:]))
    expected = average_precision_score(np.eye(3)[LABELS], SCORES, average="macro")
    assert float(metric.compute()) == pytest.approx(expected, abs=1e-6)


def test_map_leaves_out_classes_without_samples():
    metric = MeanAveragePrecision(4)  # class 3 never occurs: it has no average precision
    metric.update(torch.tensor(np.pad(SCORES, ((0, 0), (0, 1)), constant_values=0.05)), torch.tensor(LABELS))
    per_class = average_precision_score(np.eye(3)[LABELS], SCORES, average=None)
    assert float(metric.compute()) == pytest.approx(per_class.mean(), abs=1e-6)


def test_accuracy_per_domain_names_each_domain_present():
    metric = AccuracyPerDomain(["Art", "Clipart", "Product"])
    logits = torch.tensor(SCORES)
    domain = torch.tensor([0, 0, 0, 0, 2, 2, 2, 2, 2, 2])
    metric.update(logits, torch.tensor(LABELS), domain)
    # predictions 0 1 2 0 2 1 0 1 2 2 against 0 1 2 1 2 0 0 1 1 2: Art 3 of 4, Product 4 of 6
    assert {k: round(float(v), 4) for k, v in metric.compute().items()} == {"acc_Art": 0.75, "acc_Product": 0.6667}


def test_the_domain_target_follows_the_style_mixings_in_order():
    domain = torch.tensor([0, 1, 2])
    assert domain_targets(domain, [], 3) is domain  # nothing mixed: plain ids
    first = (torch.tensor([1.0, 0.25, 0.5]), torch.tensor([1, 0, 0]))
    second = (torch.tensor([0.5, 1.0, 1.0]), torch.tensor([2, 2, 2]))
    expected = torch.tensor([[1.0, 0.0, 0.0], [0.75, 0.25, 0.0], [0.5, 0.0, 0.5]])  # after the first mixing
    torch.testing.assert_close(domain_targets(domain, [first], 3), expected)
    expected[0] = 0.5 * expected[0] + 0.5 * expected[2]  # sample 0 then takes half of sample 2's style
    torch.testing.assert_close(domain_targets(domain, [first, second], 3), expected)


def test_the_loss_adds_the_weighted_domain_cross_entropy_on_soft_targets():
    cfg = resolve("digits-dg-mixstyle", {"loss.domain_weight": 0.3})
    info = DataInfo("domain_generalization", 3, list("abc"), 3, [0.5] * 3, [0.2] * 3, domains=["p", "q"])
    task = DomainGeneralizationTask(cfg, info)
    logits, domain_logits = torch.randn(2, 3), torch.randn(2, 2)
    mixes = [(torch.tensor([0.2, 1.0]), torch.tensor([1, 0]))]
    batch = {"target": torch.tensor([2, 0]), "domain": torch.tensor([0, 1])}
    loss = task.loss({"logits": logits, "domain_logits": domain_logits, "mixes": mixes}, batch)
    soft = torch.tensor([[0.2, 0.8], [0.0, 1.0]])
    expected = F.cross_entropy(logits, batch["target"]) - 0.3 * (soft * domain_logits.log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(loss, expected)


# Cross-domain mixing, no schedule (a cosine one would follow train.epochs, which the resume test changes).
SETTINGS = {"model.mixstyle.mix": "crossdomain", "model.mixstyle.p": 0.8, "train.deterministic": True,
            "sched.name": "none", "train.batch_size": 16, "train.limit_batches": 2, "train.progress": False}


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> vislab.Run:
    """A two-epoch lodo run of digits-dg-mixstyle with cross-domain mixing."""
    return vislab.train("digits-dg-mixstyle", runs_dir=tmp_path_factory.mktemp("runs"), **SETTINGS, **{"train.epochs": 2})


def test_a_lodo_run_reports_every_metric_by_its_contract_name_and_predicts(straight, main, tmp_path):
    metrics = straight.summary["metrics"]
    for name in ("val_acc", "val_map", "val_domain_acc", "val_domain_map", "val_acc_inverted", "val_acc_tinted",
                 "val_acc_thick_rotated", "test_acc", "test_map", "test_acc_original", "train_acc", "train_domain_acc"):
        assert 0.0 <= metrics[name] <= 1.0, name
    assert "val_acc_original" not in metrics  # the left-out domain is only in the test split
    with open(straight.dir / "metrics.csv") as f:
        assert {"val_acc", "val_map", "val_domain_acc", "val_domain_map", "val_acc_tinted"} <= set(next(csv.reader(f)))
    with open(straight.dir / "artifacts" / "per_domain.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["domain"] for r in rows] == ["original", "inverted", "tinted", "thick_rotated"]
    assert rows[0]["support"] == "0" and sum(int(r["support"]) for r in rows) == 32  # 2 batches of 16
    assert (straight.dir / "artifacts" / "confusion_matrix.png").is_file()
    image = tmp_path / "grey.png"
    Image.fromarray(np.full((32, 32, 3), 200, dtype=np.uint8)).save(image)
    code, out, err = main("predict", straight.dir, image, "--topk", "2")
    assert code == 0 and out.startswith(f"{image}: ") and len(out.split(",")) == 2, err


def test_resuming_a_crossdomain_mixstyle_run_gives_the_same_weights_and_metrics(straight, tmp_path):
    halted = vislab.train("digits-dg-mixstyle", runs_dir=tmp_path, **SETTINGS, **{"train.epochs": 1})
    resumed = vislab.train(resume=halted.dir, **{"train.epochs": 2})
    a, b = (load_checkpoint(r.dir / "checkpoints" / "last.pt")["model"] for r in (straight, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)

    def rows(run: vislab.Run) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in run.history]

    assert rows(straight) == rows(resumed) and len(rows(resumed)) == 2


def test_crossdomain_mixing_of_single_samples_is_bad_input_before_any_run_directory(main, tmp_path):
    code, out, err = main("train", "digits-dg-mixstyle", "model.mixstyle.mix=crossdomain", "train.batch_size=1",
                          "--runs-dir", tmp_path / "runs")
    assert code == 2 and "train.batch_size must be at least 2" in err and "Traceback" not in err
    assert not list((tmp_path / "runs").iterdir())


def test_a_lodo_run_keeps_per_image_correctness_and_domains_and_eval_rewrites_them(straight, main):
    from vislab import records

    rows = records.read(straight.dir, "test")
    assert rows["correct"].mean() == pytest.approx(straight.summary["metrics"]["test_acc"], abs=1e-6)
    assert set(rows["domain"].tolist()) == {0}  # the held-out domain only ("original", the first)
    assert ((rows["confidence"] > 0) & (rows["confidence"] <= 1)).all()
    code, out, err = main("eval", straight.dir, "--split", "test", "--checkpoint", "last")
    assert code == 0, err
    last = records.read(straight.dir, "test", "last")
    accuracy = float(next(line.split()[1] for line in out.splitlines() if line.startswith("test_acc ")))
    assert last["correct"].mean() == pytest.approx(accuracy, abs=1e-4) and (last["index"] == rows["index"]).all()
