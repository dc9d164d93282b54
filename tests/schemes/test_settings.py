"""Scheme settings that do nothing or cannot work exit 2 with one line, before any run directory exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from vislab.config import resolve


@pytest.mark.parametrize("args, message", [
    (["semisup.method=fixmatch"], "semisup.method=fixmatch needs unlabeled images: set data.labeled_per_class"),
    (["data.labeled_per_class=10", "semisup.threshold=0.9"], "semisup.threshold applies to semisup.method=fixmatch or noisy_student, not none"),
    (["data.labeled_per_class=10", "semisup.method=fixmatch", "semisup.ema_decay=0.9"], "semisup.ema_decay applies to semisup.method=mean_teacher, not fixmatch"),
    (["data.labeled_per_class=10", "semisup.method=noisy_student"], "needs semisup.teacher=RUN_DIR"),
    (["loss.distill.temperature=2"], "loss.distill needs loss.distill.teacher=RUN_DIR"),
    (["data.unlabeled_root=/tmp"], "data.unlabeled_root is only read by a semi-supervised method"),
    (["semisup.threshold=1.5"], "config key 'semisup.threshold' must be in [0, 1), got 1.5"),
])
def test_scheme_settings_that_cannot_work_are_bad_input(main, tmp_path: Path, args, message) -> None:
    code, _, err = main("train", "digits", *args, "train.epochs=1")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "runs").rglob("config.yaml"))


def test_selftrain_needs_a_noisy_student_recipe(main, tmp_path: Path) -> None:
    code, _, err = main("selftrain", "digits", "--rounds", "1")
    assert code == 2 and "must set semisup.method=noisy_student" in err
    code, _, err = main("selftrain", "digits", "--rounds", "0")
    assert code == 2 and "--rounds must be at least 1" in err
    assert not (tmp_path / "runs").exists()


def test_method_none_makes_a_semisupervised_recipe_its_supervised_baseline(main, tmp_path: Path) -> None:
    """The recipe's own semisup settings are dropped (the sweep's baseline is "the same recipe, supervised");
    a semisup key the user sets beside method=none still does nothing, so it is still refused."""
    import yaml

    recipe = tmp_path / "tuned.yaml"
    recipe.write_text("extends: digits-fixmatch\nsemisup:\n  threshold: 0.8\n  cutout: 0.25\n")
    tiny = ["train.epochs=1", "data.limit=400", "train.progress=false"]
    code, _, err = main("train", recipe, "semisup.method=none", "semisup.cutout=0.25", *tiny)
    assert code == 2 and "semisup.cutout applies to semisup.method=fixmatch" in err
    assert not list((tmp_path / "runs").rglob("config.yaml"))
    code, _, err = main("train", recipe, "semisup.method=none", *tiny)
    assert code == 0, err
    (config,) = (tmp_path / "runs").rglob("config.yaml")
    semisup = yaml.safe_load(config.read_text())["semisup"]
    assert (semisup["method"], semisup["threshold"], semisup["cutout"]) == ("none", 0.95, 0.5)
    assert yaml.safe_load(config.read_text())["data"]["labeled_per_class"] == 10  # the rest of the recipe stays
    cfg = resolve(recipe, {"semisup.method": "mean_teacher"})  # another method: the recipe's keys it reads stay
    assert (cfg.semisup.threshold, cfg.semisup.cutout) == (0.95, 0.25)
