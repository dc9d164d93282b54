"""`vislab crossval`: stratified folds of the training split (data.folds, data.fold) run as a sweep, every
training image's out-of-fold prediction saved with it, resumable after a kill; and data.exclude, which leaves
listed training images out."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import SRC
from vislab.config import resolve
from vislab.data import build
from vislab.data.loading.folds import fold_of
from vislab.errors import VislabError
from vislab.experiments.crossval import crossval
from vislab.experiments.sweep.storage import default_storage
from vislab.experiments.sweep.study import open_sweep
from vislab.experiments.sweep.summary import resume_command


def test_folds_are_stratified_disjoint_and_cover_the_training_split_once():
    labels = [0] * 30 + [1] * 12 + [2] * 7
    folds = fold_of(labels, len(labels), 5, seed=0)
    assert sorted(Counter(folds.tolist()).values()) == [9, 10, 10, 10, 10]  # sizes differ by one at most
    for cls in range(3):
        shares = Counter(folds[np.array(labels) == cls].tolist())
        assert max(shares.values()) - min(shares.get(k, 0) for k in range(5)) <= 1  # each class spread evenly
    assert (fold_of(labels, len(labels), 5, seed=0) == folds).all() and not (fold_of(labels, len(labels), 5, seed=1) == folds).all()


def test_a_fold_trains_on_the_others_and_holds_itself_out():
    parts = []
    for k in range(3):
        cfg = resolve("digits", {"data.folds": 3, "data.fold": k, "data.limit": 90})
        bundle = build(cfg.data, cfg.aug)
        assert len(bundle.train) + len(bundle.heldout) == 90 and not set(bundle.files["train"]) & set(bundle.files["heldout"])
        parts += bundle.files["heldout"]
    assert sorted(parts, key=int) == [str(i) for i in range(90)]  # every training image held out exactly once


@pytest.mark.parametrize("overrides, message", [
    ({"data.folds": 3, "data.fold": 3}, "data.fold=3: the folds of data.folds=3 are 0 to 2"),
    ({"data.fold": 1}, "data.fold=1 applies only with data.folds=K"),
    ({"data.exclude": "/no/such/list.txt"}, "data.exclude=/no/such/list.txt is not a file"),
])
def test_impossible_folds_and_exclusions_are_bad_input(overrides, message):
    cfg = resolve("digits", overrides)
    with pytest.raises(VislabError, match=message):
        build(cfg.data, cfg.aug)


def test_exclude_leaves_listed_training_images_out_and_refuses_names_not_in_the_data(tmp_path: Path):
    listed = tmp_path / "exclude.txt"
    listed.write_text("# suspects\n3\n\n17\n")
    cfg = resolve("digits", {"data.exclude": str(listed), "data.limit": 50})
    bundle = build(cfg.data, cfg.aug)
    assert len(bundle.train) == 48 and "3" not in bundle.files["train"] and "17" not in bundle.files["train"]
    listed.write_text("3\nnot-an-image.png\n")
    with pytest.raises(VislabError, match="lists 1 names that are not training images .*first: not-an-image.png"):
        build(cfg.data, cfg.aug)


def test_crossval_refuses_folds_it_sets_before_anything_is_created(tmp_path: Path):
    for kwargs, message in [({"folds": 1}, "--folds K must be at least 2, not 1"), ({}, "give --folds K"),
                            ({"folds": 3, "overrides": {"data.fold": 1}}, "data.fold is set by crossval")]:
        with pytest.raises(VislabError, match=message):
            crossval("digits", runs_dir=tmp_path, **kwargs)
    with pytest.raises(VislabError, match="or continue one with only --resume --name NAME"):
        crossval(folds=3, resume=True, name="cv", runs_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_killed_crossval_resumes_and_every_training_image_gets_one_out_of_fold_prediction(tmp_path: Path, cli):
    runs = tmp_path / "runs"
    args = ["crossval", "digits", "--folds", "3", "train.epochs=2", "data.limit=120", "--name", "cv", "--runs-dir", runs]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    process = subprocess.Popen([sys.executable, "-m", "vislab", *map(str, args)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(runs.glob("sweeps/cv/digits/*-trial-0001/metrics.csv")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()  # SIGKILL in the second fold: nothing recorded, no oof.csv yet
    process.wait()
    sweep_dir = runs / "sweeps" / "cv"
    assert not (sweep_dir / "oof.csv").exists()
    stopped = open_sweep("cv", sweep_dir, default_storage(sweep_dir))
    assert resume_command(stopped) == f"vislab crossval --resume --name cv --runs-dir {runs}"  # what a stop prints

    resumed = cli("crossval", "--resume", "--name", "cv", "--runs-dir", runs)
    assert resumed.returncode == 0, resumed.stderr
    assert f"out-of-fold predictions: {sweep_dir / 'oof.csv'}" in resumed.stdout and "3 of 3 done" in resumed.stdout
    rows = list(csv.DictReader((sweep_dir / "oof.csv").open()))
    assert sorted((r["file"] for r in rows), key=int) == [str(i) for i in range(120)]  # each training image once
    assert Counter(r["fold"] for r in rows) == {"0": 40, "1": 40, "2": 40}
    for r in rows:
        assert sum(float(r[f"prob_{c}"]) for c in range(10)) == pytest.approx(1, abs=1e-4)
    run_dirs = sorted(p.parent for p in sweep_dir.glob("digits/*/summary.json"))
    assert len(run_dirs) == 3 and all((d / "oof.csv").is_file() for d in run_dirs)  # the killed fold continued in place
    assert np.mean([max(float(r[f"prob_{c}"]) for c in range(10)) for r in rows]) > 0.1  # trained, not uniform

    compared = cli("compare", sweep_dir)
    assert compared.returncode == 0, compared.stderr
    assert "| all runs | 3 |" in compared.stdout  # the three folds are the group's repeats
