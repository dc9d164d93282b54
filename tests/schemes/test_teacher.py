"""A teacher run that is missing, unfinished or incompatible is bad input; a good one is loaded frozen."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from vislab.data.bundle import DataInfo
from vislab.errors import VislabError
from vislab.runs import read_data_info, Run
from vislab.schemes.noisy_student import select
from vislab.schemes.teacher import load_teacher, stats

KEY = "loss.distill.teacher"


def student_info(teacher_run: Path, **changes) -> DataInfo:
    info = read_data_info(Run(teacher_run))
    for k, v in changes.items():
        setattr(info, k, v)
    return info


def test_missing_and_non_run_directories_are_bad_input(tmp_path: Path, teacher_run: Path) -> None:
    info = student_info(teacher_run)
    with pytest.raises(VislabError, match=f"{KEY}=.*nowhere: no such run directory"):
        load_teacher(str(tmp_path / "nowhere"), info, KEY)
    with pytest.raises(VislabError, match="is not a run directory"):
        load_teacher(str(tmp_path), info, KEY)


def test_unfinished_run_is_bad_input(tmp_path: Path, teacher_run: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(teacher_run, copy)
    summary = json.loads((copy / "summary.json").read_text())
    (copy / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    with pytest.raises(VislabError, match=r"is unfinished \(status interrupted\); finish it with `vislab train --resume"):
        load_teacher(str(copy), student_info(teacher_run), KEY)


def test_incompatible_classes_or_channels_are_bad_input(teacher_run: Path) -> None:
    with pytest.raises(VislabError, match=r"incompatible: its classes are \['0', .*this run's are \['a', 'b'\]"):
        load_teacher(str(teacher_run), student_info(teacher_run, class_names=["a", "b"], num_classes=2), KEY)
    with pytest.raises(VislabError, match="incompatible: its channels are 1, this run's are 3"):
        load_teacher(str(teacher_run), student_info(teacher_run, channels=3), KEY)


def test_teacher_is_frozen_and_renormalizes_to_its_own_statistics(teacher_run: Path) -> None:
    info = student_info(teacher_run)
    teacher = load_teacher(str(teacher_run), info, KEY)
    assert not teacher.model.training and not any(p.requires_grad for p in teacher.model.parameters())
    raw = torch.rand(3, 1, 8, 8)
    run = lambda model, x: model(x)  # noqa: E731
    own = teacher.logits((raw - stats(info.mean)) / stats(info.std), stats(info.mean), stats(info.std), run)
    other_mean, other_std = torch.full((1, 1, 1, 1), 0.1), torch.full((1, 1, 1, 1), 0.7)
    other = teacher.logits((raw - other_mean) / other_std, other_mean, other_std, run)
    assert torch.allclose(own, other, atol=1e-5)


def test_pseudo_label_selection_thresholds_and_balances() -> None:
    probs = torch.tensor([[0.97, 0.03], [0.99, 0.01], [0.96, 0.04], [0.02, 0.98], [0.6, 0.4]])
    hard = select(probs, threshold=0.95, soft=False, balance=True)
    assert hard.indices.tolist() == [0, 1, 2, 3]
    assert hard.targets.tolist() == [0, 0, 0, 1]
    # 4 kept over 2 classes: class 0 (3 samples) weighs 4 / (2 * 3), class 1 (1 sample) 4 / (2 * 1)
    assert hard.weights.tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2.0])
    soft = select(probs, threshold=0.5, soft=True, balance=False)
    assert torch.equal(soft.targets, probs) and soft.weights.tolist() == [1.0] * 5
    with pytest.raises(VislabError, match="no unlabeled sample reaches semisup.threshold=0.999"):
        select(probs, threshold=0.999, soft=False, balance=False)
