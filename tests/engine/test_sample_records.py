"""Per-image records come from the evaluation passes a run makes anyway: each image of the validation and test
splits is predicted once after training (and once by `vislab eval`), and the records agree with the metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

import vislab
from vislab import records
from vislab.tasks.classification.task import ClassificationTask


@pytest.fixture
def predicted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch sizes ClassificationTask.predict is called with, in order."""
    sizes: list[int] = []
    original = ClassificationTask.predict

    def counted(self, model, batch):
        sizes.append(batch["image"].shape[0])
        return original(self, model, batch)

    monkeypatch.setattr(ClassificationTask, "predict", counted)
    return sizes


def test_records_come_from_the_final_evaluation_not_extra_passes(tmp_path: Path, predicted: list[int], main):
    run = vislab.train("digits", runs_dir=tmp_path, **{"train.epochs": 1, "train.progress": False})
    s = run.summary
    # validation after the epoch, then once each: val for the artifacts, test for the test metrics
    assert sum(predicted) == 2 * s["val_size"] + s["test_size"]
    for split in ("val", "test"):
        rows = records.read(run.dir, split)
        assert len(rows["index"]) == s[f"{split}_size"]
    assert records.read(run.dir, "test")["correct"].mean() == pytest.approx(s["metrics"]["test_acc"], abs=1e-6)
    predicted.clear()
    code, _, err = main("eval", run.dir, "--split", "test")
    assert code == 0, err
    assert sum(predicted) == s["test_size"]
    assert records.read(run.dir, "test")["correct"].mean() == pytest.approx(s["metrics"]["test_acc"], abs=1e-6)
