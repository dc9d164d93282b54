"""Output a person can follow: where the run is (at its start, and later with `vislab runs`), progress as
plain lines when stderr is no terminal, headline metrics per epoch, and messages that name the right verb."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SRC
from vislab.progress import format_row


def test_a_run_says_where_it_is_and_shows_plain_progress_when_stderr_is_no_terminal(main, tmp_path: Path):
    code, out, err = main("train", "digits", "train.epochs=1", "data.limit=160", "train.batch_size=8", "--name", "p")
    assert code == 0, err
    lines = err.splitlines()
    run_dir = next((tmp_path / "runs" / "digits").glob("*-p"))
    assert lines[0] == f"vislab: run directory {run_dir}"  # before any training
    steps = [line for line in lines if line.startswith("epoch 1/1  ") and "%" in line]
    assert len(steps) >= 5 and all("loss " in line and "img/s" in line for line in steps)
    assert lines[-1].startswith("epoch 1/1  lr ") and "val_acc " in lines[-1]
    assert out.splitlines()[0] == f"run directory: {run_dir}"  # results on stdout

    code, out, err = main("runs")
    assert code == 0, err
    status, epochs, metric, value, where = out.split()
    assert (status, epochs, metric, where) == ("completed", "1/1", "val_acc", str(run_dir))


def test_the_epoch_line_holds_headline_metrics_not_per_class_values():
    row = {"epoch": 2, "lr": 0.001, "train_loss": 0.5, "train_acc": 0.8, "val_loss": 0.4, "val_miou": 0.7,
           **{f"val_iou_class{i}": 0.5 for i in range(21)}, "val_pq": 0.6, "seconds": 3.0, "images_per_s": 100.0}
    line = format_row(row, 10, monitor="val_pq")
    assert line == ("epoch 2/10  lr 0.001  train_loss 0.5  val_loss 0.4  val_pq 0.6  train_acc 0.8  val_miou 0.7"
                    "  3.0s  100 img/s")


def test_a_misspelt_verb_gets_a_suggestion(main):
    code, out, err = main("trian", "digits")
    assert code == 2 and out == ""
    assert err.startswith("vislab: error: unknown verb 'trian'; did you mean train?") and len(err.splitlines()) == 1


def test_messages_name_the_verb_in_use(main, tmp_path: Path):
    code, _, err = main("predict", tmp_path, "a.png", "--set", "sliding_window")
    assert code == 2 and "then key=value overrides (vislab predict" in err and "vislab train" not in err


@pytest.mark.parametrize("args", [["recipes"], ["recipes", "digits"], ["datasets"], ["runs"]])
def test_output_that_cannot_be_written_is_one_line_and_exit_2(tmp_path: Path, args: list[str]):
    run = tmp_path / "runs" / "digits" / "20260101-000000"
    (run / "checkpoints").mkdir(parents=True)  # one run for `vislab runs` to list
    (run / "config.yaml").write_text("recipe: digits\ntrain:\n  epochs: 1\n")
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "vislab", *args], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(SRC), "VISLAB_RUNS": str(tmp_path / "runs")},
        )
    assert proc.returncode == 2
    assert proc.stderr == ("vislab: error: cannot write the output to stdout: No space left on device; "
                           "free space where it goes, or send it elsewhere\n")
