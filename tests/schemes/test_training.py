"""Training with each scheme through the real CLI, at smoke size: what lands in the run directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from vislab.data_info import DataInfo
from vislab.runs import find_runs

TINY = ["train.epochs=1", "train.limit_batches=2", "train.progress=false"]


def only_run(runs: Path, recipe: str) -> Path:
    (run,) = [r.dir for r in find_runs(runs / recipe)]
    return run


def test_fixmatch_keeps_one_labeled_split_across_training_seeds_and_per_image_records(main, tmp_path: Path) -> None:
    for seed in (0, 1):
        code, _, err = main("train", "digits-fixmatch", *TINY, f"train.seed={seed}", "--name", f"s{seed}")
        assert code == 0, err
    runs = sorted((tmp_path / "runs" / "digits-fixmatch").iterdir())
    labeled = [(r / "splits" / "labeled.txt").read_text() for r in runs]
    assert labeled[0] == labeled[1] and len(labeled[0].splitlines()) == 100
    assert len((runs[0] / "splits" / "unlabeled.txt").read_text().splitlines()) == 1079 - 100
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["train_size"] == 100
    assert "100 labeled and 979 unlabeled" in summary["data_notes"][0]
    # per-image records, as a supervised run keeps them: `vislab compare` bootstraps its interval over images from them
    assert {p.name for p in (runs[0] / "records").iterdir()} == {"val.npz", "test.npz"}


def test_segmentation_mean_teacher_trains(main, tmp_path: Path) -> None:
    small = ["data.num_samples=40", "data.image_size=[32,32]", "train.batch_size=4"]
    code, _, err = main("train", "shapes-fixmatch", *TINY, *small, "semisup.method=mean_teacher")
    assert code == 0, err
    summary = only_run(tmp_path / "runs", "shapes-fixmatch").joinpath("summary.json").read_text()
    summary = json.loads(summary)
    assert summary["status"] == "completed" and summary["train_size"] == 4 and 0 <= summary["best_value"] <= 1


def test_distillation_from_a_finished_run_and_an_incompatible_one(main, tmp_path: Path, teacher_run: Path) -> None:
    code, _, err = main("train", "digits", *TINY, f"loss.distill.teacher={teacher_run}")
    assert code == 0, err
    config = yaml.safe_load((only_run(tmp_path / "runs", "digits") / "config.yaml").read_text())
    assert config["loss"]["distill"]["teacher"] == str(teacher_run)
    other = tmp_path / "rgb-teacher"
    shutil.copytree(teacher_run, other)
    info = json.loads((other / "data_info.json").read_text())
    (other / "data_info.json").write_text(json.dumps({**info, "channels": 3}))
    code, _, err = main("train", "mnist-cnn", *TINY, f"loss.distill.teacher={other}", "data.name=digits", "--name", "x")
    assert code == 2 and "incompatible: its channels are 3, this run's are 1" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs" / "mnist-cnn").exists() or not list((tmp_path / "runs" / "mnist-cnn").rglob("config.yaml"))


def test_selftrain_chains_a_teacher_and_a_student(main, tmp_path: Path) -> None:
    recipe = tmp_path / "noisy.yaml"
    recipe.write_text(yaml.safe_dump({
        "extends": "digits", "data": {"labeled_per_class": 10}, "model": {"dropout": 0.3},
        "semisup": {"method": "noisy_student", "threshold": 0.0, "ratio": 2},
    }))
    code, out, err = main("selftrain", recipe, "--rounds", "1", *TINY)
    assert code == 0, err
    round0, round1 = sorted((tmp_path / "runs" / "noisy").iterdir())
    assert round0.name.endswith("selftrain-round0") and round1.name.endswith("selftrain-round1")
    student = yaml.safe_load((round1 / "config.yaml").read_text())
    assert student["semisup"]["teacher"] == str(round0) and student["semisup"]["method"] == "noisy_student"
    assert yaml.safe_load((round0 / "config.yaml").read_text())["semisup"]["method"] == "none"
    summary = json.loads((round1 / "summary.json").read_text())
    assert summary["selftrain_round"] == 1 and summary["teacher"] == str(round0) and summary["status"] == "completed"
    assert f"round 1: {round1}" in out


def test_a_scheme_task_answers_every_member_the_scheme_does_not_decide_as_its_base_task() -> None:
    """SchemeTask once named each member it passed on; one it forgot silently took Task's default (per-image records
    and eval settings did). Now the members a scheme decides are the scheme's, and every other member of the Task
    interface, one added later included, is the base task's own."""
    import inspect

    from vislab import config
    from vislab.data.bundle import DataBundle
    from vislab.schemes.task import SCHEMES, SchemeTask
    from vislab.tasks import build
    from vislab.tasks.base import Task

    cfg = config.resolve("digits-fixmatch")
    info = DataInfo(task="classification", num_classes=10, class_names=[str(i) for i in range(10)], channels=1,
                    mean=[0.5], std=[0.25])
    base = build(cfg, info)
    scheme = SCHEMES["mean_teacher"](base, cfg, DataBundle(train=[], val=[], test=None, info=info))
    task = SchemeTask(base, scheme)
    decided = {"training_step", "extra_models", "extra_streams", "after_optimizer_step", "evaluated_model"}
    members = [name for name, member in vars(Task).items()
               if not name.startswith("_") and (inspect.isfunction(member) or not callable(member))]
    assert [name for name in members if name not in decided and getattr(task, name) != getattr(base, name)] == []
    assert task.evaluated_model == "teacher" and base.evaluated_model is None
    assert task.sample_records.__func__ is type(base).sample_records and task.name == "classification"
