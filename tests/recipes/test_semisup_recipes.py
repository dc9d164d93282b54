"""The semi-supervised and distillation recipes train at a tiny size on their datasets' real formats
(digits-fixmatch and digits-meanteacher run with the classification recipes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from seg_files import write_voc
from recipes.test_classification_recipes import prepare_cifar100, prepare_officehome

TINY = ["train.epochs=1", "train.limit_batches=2", "train.progress=false", "data.num_workers=0"]


def runs_of(tmp_path: Path, recipe: str) -> list[Path]:
    return sorted(p for p in (tmp_path / "runs" / recipe).iterdir() if (p / "summary.json").is_file())


def test_shapes_fixmatch_trains_on_a_tenth_of_the_scenes(main, tmp_path: Path) -> None:
    code, _, err = main("train", "shapes-fixmatch", *TINY, "data.num_samples=30", "data.image_size=[32,32]", "train.batch_size=2")
    assert code == 0, err
    (run,) = runs_of(tmp_path, "shapes-fixmatch")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["train_size"] == 3
    assert len((run / "splits" / "unlabeled.txt").read_text().splitlines()) == 27


def test_voc_semisup_labels_an_eighth_of_train_aug(main, tmp_path: Path) -> None:
    root = write_voc(tmp_path / "data", train=16, train_aug=True)
    # a small UNet instead of DeepLabV3-ResNet101 (too heavy for a test), 32x32 crops: the recipe's data and scheme
    code, _, err = main("train", "voc-semisup", f"data.root={root}", *TINY, "train.batch_size=2", "model.name=unet",
                        "model.pretrained=false", "model.depth=3", "aug.random_crop.size=32")
    assert code == 0, err
    (run,) = runs_of(tmp_path, "voc-semisup")
    labeled = (run / "splits" / "labeled.txt").read_text().splitlines()
    unlabeled = (run / "splits" / "unlabeled.txt").read_text().splitlines()
    assert len(labeled) == round(0.125 * (len(labeled) + len(unlabeled))) and not set(labeled) & set(unlabeled)
    assert json.loads((run / "summary.json").read_text())["best_metric"] == "val_miou"


@pytest.mark.slow
def test_officehome_noisy_student_selftrains_one_round(main, tmp_path: Path, monkeypatch) -> None:
    overrides = prepare_officehome(tmp_path / "data", monkeypatch)
    code, out, err = main("selftrain", "officehome-noisy-student", "--rounds", "1", *TINY, *overrides, "semisup.threshold=0.0")
    assert code == 0, err
    teacher, student = runs_of(tmp_path, "officehome-noisy-student")
    cfg = yaml.safe_load((student / "config.yaml").read_text())
    assert cfg["semisup"]["teacher"] == str(teacher) and cfg["semisup"]["pseudo"] == "soft"
    assert "round 1:" in out


@pytest.mark.slow
def test_cifar100_kd_distils_a_finished_effnetv2_run(main, tmp_path: Path, monkeypatch) -> None:
    import torch
    import torchvision

    overrides = prepare_cifar100(tmp_path / "data", monkeypatch)
    hub = tmp_path / "torch" / "hub" / "checkpoints"  # where prepare_cifar100 points TORCH_HOME
    resnet = Path(torchvision.models.get_model_weights("resnet18").DEFAULT.url).name
    torch.save(torchvision.models.resnet18().state_dict(), hub / resnet)  # as the first download leaves it
    code, _, err = main("train", "cifar100-effnetv2", *TINY, *overrides)
    assert code == 0, err
    (teacher,) = runs_of(tmp_path, "cifar100-effnetv2")
    code, _, err = main("train", "cifar100-kd", *TINY, *overrides, f"loss.distill.teacher={teacher}")
    assert code == 0, err
    (student,) = runs_of(tmp_path, "cifar100-kd")
    assert json.loads((student / "data_info.json").read_text())["num_classes"] == 100
