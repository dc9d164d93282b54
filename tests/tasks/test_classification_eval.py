"""Classification evaluation: per-class tables, ECE and the reliability diagram, flip TTA in eval (recorded in
its JSON), keys that do nothing refused, and vislab calibrate (a temperature stored with the run, used by
predict and ensemble)."""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np

import pytest
from PIL import Image

import torch

import vislab
from vislab.data.sources.digits import load_arrays
from vislab.tasks.classification.artifacts import caption, per_class_scores, write_per_class_table
from vislab.inference import restore
from vislab.voting import member_outputs




@pytest.fixture(scope="module")
def run(tmp_path_factory) -> vislab.Run:
    return vislab.train("digits", runs_dir=tmp_path_factory.mktemp("runs"), **{"train.epochs": 1, "train.progress": False, "data.limit": 300})


def test_calibrate_stores_a_temperature_that_lowers_the_validation_nll(main, run):
    code, out, err = main("calibrate", run.dir)
    assert code == 0, err
    stored = json.loads((run.dir / "calibration.json").read_text())
    assert stored["split"] == "val" and stored["checkpoint"] == "best" and stored["temperature"] > 0
    assert stored["nll_after"] <= stored["nll_before"]
    assert f"temperature {stored['temperature']:.4f}" in out and "ECE" in out
    for name in ("uncalibrated", "calibrated"):
        assert (run.dir / "artifacts" / f"reliability_val_best_{name}.png").stat().st_size > 5000


def test_predict_and_ensemble_use_the_stored_temperature(main, run, tmp_path):
    images, _ = load_arrays()
    Image.fromarray(images[0, 0].numpy(), "L").save(tmp_path / "0.png")
    (run.dir / "calibration.json").unlink(missing_ok=True)
    plain = vislab.predict(run.dir, [tmp_path / "0.png"], topk=3)[0]
    plain_vote = member_outputs(restore(run.dir), "val").probs
    (run.dir / "calibration.json").write_text(json.dumps({"temperature": 4.0}))
    hot = vislab.predict(run.dir, [tmp_path / "0.png"], topk=3)[0]
    assert hot["classes"] == plain["classes"]  # dividing logits by a temperature keeps their order
    assert hot["probabilities"][0] < plain["probabilities"][0]  # and flattens the probabilities
    hot_vote = member_outputs(restore(run.dir), "val").probs  # what ensemble votes with
    assert torch.allclose(hot_vote, (plain_vote.log() / 4).softmax(1), atol=1e-5)
    (run.dir / "calibration.json").write_text("{broken")
    code, _, err = main("predict", run.dir, tmp_path / "0.png")
    assert code == 2 and "calibration.json is damaged" in err and "vislab calibrate" in err


def test_per_class_precision_recall_f1_by_hand(tmp_path):
    from sklearn.metrics import precision_recall_fscore_support

    matrix = np.array([[3, 1, 0], [2, 2, 0], [0, 0, 0]])  # class 2: no sample and never predicted
    s = per_class_scores(matrix)
    # class 0: precision 3/5, recall 3/4, F1 2*3/(4+5); class 1: 2/3, 2/4, 4/7
    np.testing.assert_allclose(s["precision"][:2], [0.6, 2 / 3])
    np.testing.assert_allclose(s["recall"][:2], [0.75, 0.5])
    np.testing.assert_allclose(s["f1"][:2], [6 / 9, 4 / 7])
    truth, pred = np.repeat([0, 0, 1, 1], [3, 1, 2, 2]), np.repeat([0, 1, 0, 1], [3, 1, 2, 2])
    expected = precision_recall_fscore_support(truth, pred, labels=[0, 1])
    np.testing.assert_allclose(np.stack([s["precision"][:2], s["recall"][:2], s["f1"][:2]]), np.stack(expected[:3]))
    write_per_class_table(tmp_path, matrix, ["cat", "dog", "eel"])
    with open(tmp_path / "per_class.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows[0] == {"class": "cat", "precision": "0.6000", "recall": "0.7500", "f1": "0.6667", "support": "4"}
    assert rows[2] == {"class": "eel", "precision": "", "recall": "", "f1": "", "support": "0"}
    md = (tmp_path / "per_class.md").read_text()
    assert "| cat | 0.6000 | 0.7500 | 0.6667 | 4 |" in md and "accuracy 0.6250 over 8 samples" in md


def test_captions_explain_themselves():
    assert caption("5", "6", 0.283) == "true 5, predicted 6, p=0.28"
    assert caption("dog", "cat", 0.9, "tinted") == "true dog, predicted cat, p=0.90, domain tinted"


def test_a_run_reports_ece_and_draws_its_tables_and_reliability(run):
    assert 0 <= run.summary["metrics"]["val_ece"] <= 1
    art = run.dir / "artifacts"
    assert {"per_class.csv", "per_class.md", "reliability.png", "confusion_matrix.png"} <= {p.name for p in art.iterdir()}


def test_eval_with_flip_records_it_and_keys_that_do_nothing_are_refused(main, run):
    code, out, err = main("eval", run.dir, "eval.tta.flip=true")
    assert code == 0, err
    saved = json.loads((run.dir / "eval_val_best.json").read_text())
    assert saved["tta"] == {"flip": True, "scales": [1.0]} and "val_acc" in saved
    plain = vislab.evaluate(run.dir)
    assert saved["val_loss"] != plain["val_loss"]  # mirrored digits change the answers
    assert json.loads((run.dir / "eval_val_best.json").read_text())["tta"] == {"flip": False, "scales": [1.0]}
    code, _, err = main("eval", run.dir, "eval.tta.scales=[0.5,1.0]")
    assert code == 2 and "config key eval.tta.scales does nothing for evaluating a classification run; remove it or set eval.tta.scales=[1.0]" in err


def test_per_class_table_with_no_defined_macro_precision_warns_nothing(tmp_path):
    matrix = np.array([[0, 2], [0, 0]])  # the one class with samples is never predicted
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "Mean of empty slice" was printed here
        write_per_class_table(tmp_path, matrix, ["cat", "dog"])
    md = (tmp_path / "per_class.md").read_text()
    assert "macro mean over the 1 classes with samples: precision n/a, recall 0.0000, F1 0.0000" in md
