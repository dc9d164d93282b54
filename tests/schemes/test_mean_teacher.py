"""Mean Teacher's run is its teacher (the EMA of the student), as USB and TorchSSL evaluate it: the val metrics
vislab reports, best.pt's pick, the test metrics and `vislab eval` are the teacher's. The run validated and
kept the student before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli


def teacher_metrics(run: Path) -> dict[str, float]:
    """best.pt's teacher weights, evaluated on the val split by hand."""
    from vislab.engine import evaluate, load_checkpoint, load_weights, make_loader
    from vislab.inference import restore

    r = restore(run)
    state = load_checkpoint(run / "checkpoints" / "best.pt")
    load_weights(r.model, state["extra_models"]["teacher"], "best.pt's teacher")
    return evaluate(r.model, make_loader(r.cfg, r.bundle.val, r.fabric, r.bundle, train=False), r.task, r.fabric, r.cfg)


def test_digits_meanteacher_reports_and_evaluates_the_teacher(tmp_path: Path) -> None:
    done = run_cli("train", "digits-meanteacher", "train.epochs=1", "train.limit_batches=2")
    assert done.returncode == 0, done.stderr
    [run] = (tmp_path / "runs" / "digits-meanteacher").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best_weights"] == "teacher"
    teacher = teacher_metrics(run)
    assert summary["metrics"]["val_loss"] == pytest.approx(teacher["loss"], rel=1e-5)
    assert summary["best_value"] == pytest.approx(teacher["acc"])
    evaluated = run_cli("eval", run)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads((run / "eval_val_best.json").read_text())["val_loss"] == pytest.approx(teacher["loss"], rel=1e-5)
