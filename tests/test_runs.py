"""The run directory: created once, never overwritten, read back as a Run."""

from __future__ import annotations

from pathlib import Path

import pytest

from vislab.errors import VislabError
from vislab.runs import Run, ensure_dir, find_runs


def test_runs_created_in_the_same_second_get_distinct_directories(tmp_path: Path):
    runs = [Run.create(tmp_path, "digits", name="a") for _ in range(3)]
    dirs = {r.dir for r in runs}
    assert len(dirs) == 3
    assert all(d.parent == tmp_path / "digits" for d in dirs)
    assert all((d / "checkpoints").is_dir() and (d / "artifacts").is_dir() for d in dirs)
    assert sorted(d.name for d in dirs)[0].endswith("-a")


def test_name_with_a_slash_is_refused(tmp_path: Path):
    with pytest.raises(VislabError, match="--name"):
        Run.create(tmp_path, "digits", name="../escape")
    assert not (tmp_path / "digits").exists() or not any((tmp_path / "digits").iterdir())


def test_runs_dir_under_a_file_is_bad_input(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(VislabError, match="cannot use runs directory .*file/runs"):
        ensure_dir(blocker / "runs")


def test_load_refuses_what_is_not_a_run(tmp_path: Path):
    with pytest.raises(VislabError, match="does not exist"):
        Run.load(tmp_path / "nope")
    with pytest.raises(VislabError, match="not a run directory"):
        Run.load(tmp_path)


def test_history_round_trips_floats_exactly(tmp_path: Path):
    run = Run.create(tmp_path, "x")
    rows = [{"epoch": 1, "lr": 0.1, "val_acc": 1 / 3}, {"epoch": 2, "lr": 0.05, "val_acc": 2 / 3, "extra": 1.5}]
    run.write_history(rows)
    assert run.history == [{**rows[0], "extra": None}, rows[1]]
    (run.dir / "config.yaml").write_text("recipe: x\n")
    assert [r.dir for r in find_runs(tmp_path)] == [run.dir]
