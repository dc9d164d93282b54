"""Distillation as a user takes it: a finished `digits` run is the teacher of a student trained with
`loss.distill.teacher=RUN_DIR` (as `cifar100-kd` is used), with an EMA; the student goes through every verb
(journey.py) and is compared with its teacher."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from journeys.journey import ClassifierJourney
from journeys.user import SHORT, User, summary


def teacher_of(run: Path) -> Path:
    return Path(yaml.safe_load((run / "config.yaml").read_text())["loss"]["distill"]["teacher"])


class TestDistillationJourney(ClassifierJourney):
    recipe = "digits"
    overrides = (*SHORT, "train.ema.decay=0.9")
    monitor = "val_ema_acc"
    model = "cnn-mnist"
    input = [1, 8, 8]

    @classmethod
    def train_first(cls, user: User) -> tuple[subprocess.CompletedProcess, Path]:
        """A teacher, an ordinary finished run, then the student the journey follows."""
        teacher = user.train(cls.recipe, *cls.overrides)[1]
        return user.train(cls.recipe, *cls.overrides, f"loss.distill.teacher={teacher}")

    @classmethod
    def train_second(cls, user: User, run: Path) -> Path:
        """The student is compared with its teacher."""
        return teacher_of(run)

    def expected_groups(self, run: Path, second: Path) -> tuple[str, str]:
        """The student's loss.distill section against the teacher's none, each of its keys named."""
        return (f"loss.distill.teacher={second} loss.distill.temperature=4 loss.distill.weight=0.9",
                "loss.distill.teacher=None loss.distill.temperature=None loss.distill.weight=None")

    def test_the_student_names_its_finished_teacher(self, run: Path, second: Path) -> None:
        assert teacher_of(run) == second and summary(second)["status"] == "completed"
