"""Class imbalance: loss.class_weights=auto|effective from the training class counts, data.sampler=class_balanced
(seeded by (seed, epoch), so a resumed epoch sees its batches again), and balanced_acc / macro_f1 as metrics that
train.monitor and compare --metric take."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from vislab import tasks
from vislab.config import resolve
from vislab.data import build
from vislab.data.loading.class_balance import ClassBalancedSampler, counted_weights
from vislab.errors import VislabError
from formats import write_folder

LABELS = [0] * 90 + [1] * 10


def test_auto_weighs_classes_by_inverse_frequency_and_effective_by_cui_et_al():
    assert counted_weights("auto", [90, 10, 0]) == pytest.approx([100 / (2 * 90), 100 / (2 * 10), 0.0])
    assert counted_weights("inverse", [90, 10]) == counted_weights("auto", [90, 10])
    e = [(1 - 0.999) / (1 - 0.999 ** n) for n in (90, 10)]
    assert counted_weights("effective", [90, 10]) == pytest.approx([2 * w / sum(e) for w in e])


def epoch(epoch: int, start: int = 0, seeds: bool = False, **kw) -> list[list]:
    sampler = ClassBalancedSampler(100, 20, labels=LABELS, shuffle=True, seed=3, drop_last=True, **kw)
    sampler.set_epoch(epoch, start)
    return [[key if seeds else key[0] for key in batch] for batch in sampler]


def test_class_balanced_batches_draw_each_class_about_equally_from_seed_and_epoch():
    drawn = [i for e in range(5) for batch in epoch(e) for i in batch]
    assert len(drawn) == 500
    share = Counter(LABELS[i] for i in drawn)[1] / len(drawn)
    assert 0.4 < share < 0.6  # 10% of the images, half of the draws
    assert epoch(2) == epoch(2) != epoch(3)
    assert epoch(2, start=3, seeds=True) == epoch(2, seeds=True)[3:]  # a resumed epoch sees the batches it would have
    rare = [key for batch in epoch(0, seeds=True) for key in batch if LABELS[key[0]] == 1]
    assert len({i for i, _ in rare}) < len(rare) == len({s for _, s in rare})  # drawn twice, augmented two ways
    ranks = [epoch(1, rank=r, world_size=2) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 2


def test_the_bundle_counts_classes_for_the_task_and_the_sampler(tmp_path: Path):
    write_folder(tmp_path, {"common": 40, "rare": 10})
    cfg = resolve("digits", {"data.name": "folder", "data.root": str(tmp_path), "data.val_fraction": 0.2,
                             "data.test_fraction": 0.0, "data.sampler": "class_balanced"})
    bundle = build(cfg.data, cfg.aug)
    assert bundle.info.class_counts == [32, 8]
    assert bundle.train_sampler is not None and bundle.train_sampler.keywords["labels"].count(1) == 8
    weighted = resolve("digits", {"data.name": "folder", "data.root": str(tmp_path), "loss.class_weights": "auto"})
    task = tasks.build(weighted, build(weighted.data, weighted.aug).info)
    assert task.class_weights.tolist() == pytest.approx([40 / 64, 40 / 16])
    with pytest.raises(VislabError, match="choose one"):
        tasks.build(resolve("digits", {"data.sampler": "class_balanced", "loss.class_weights": "auto"}), bundle.info)


def test_imbalanced_folder_trains_balanced_and_compare_reads_the_new_metrics(tmp_path: Path, cli):
    write_folder(tmp_path / "data", {"common": 48, "rare": 8}, size=(8, 8), mode="L")
    runs = tmp_path / "runs"
    common = ["digits", "data.name=folder", f"data.root={tmp_path / 'data'}", "data.test_fraction=0.25",
              "train.epochs=2", "train.batch_size=16", "--runs-dir", runs]
    sampled = cli("train", *common, "data.sampler=class_balanced", "train.monitor=val_balanced_acc", "--name", "sampled")
    assert sampled.returncode == 0, sampled.stderr
    weighted = cli("train", *common, "loss.class_weights=auto", "train.monitor=val_macro_f1", "--name", "weighted")
    assert weighted.returncode == 0, weighted.stderr
    dirs = sorted((runs / "digits").iterdir())
    summaries = {d.name.split("-")[-1]: json.loads((d / "summary.json").read_text()) for d in dirs}
    assert summaries["sampled"]["best_metric"] == "val_balanced_acc"
    assert summaries["weighted"]["best_metric"] == "val_macro_f1"
    for d in dirs:
        rows = list(csv.DictReader((d / "metrics.csv").open()))
        assert len(rows) == 2 and all(0 <= float(r[m]) <= 1 for r in rows for m in ("val_balanced_acc", "val_macro_f1"))
    assert "best val_balanced_acc" in sampled.stdout
    compared = cli("compare", *dirs, "--metric", "test_balanced_acc", "--metric", "test_macro_f1", "--out", tmp_path / "report")
    assert compared.returncode == 0, compared.stderr
    assert "test_balanced_acc" in compared.stdout and "test_macro_f1" in compared.stdout
    bad = cli("train", *common, "data.sampler=class_balanced", "loss.class_weights=auto")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "choose one" in bad.stderr
    assert len(list((runs / "digits").iterdir())) == 2  # nothing created
