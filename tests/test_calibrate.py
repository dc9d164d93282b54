"""vislab calibrate: a temperature fitted on validation, stored with the run, used by predict and ensemble."""

from __future__ import annotations

import json

import pytest
from PIL import Image

import torch

import vislab
from vislab.data.digits import load_arrays
from vislab.voting import member_outputs


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> vislab.Run:
    return vislab.train("digits", runs_dir=tmp_path_factory.mktemp("runs"), **{"train.epochs": 1, "train.progress": False, "data.limit": 600})


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
    plain_vote = member_outputs(vislab.restore(run.dir), "val").probs
    (run.dir / "calibration.json").write_text(json.dumps({"temperature": 4.0}))
    hot = vislab.predict(run.dir, [tmp_path / "0.png"], topk=3)[0]
    assert hot["classes"] == plain["classes"]  # dividing logits by a temperature keeps their order
    assert hot["probabilities"][0] < plain["probabilities"][0]  # and flattens the probabilities
    hot_vote = member_outputs(vislab.restore(run.dir), "val").probs  # what ensemble votes with
    assert torch.allclose(hot_vote, (plain_vote.log() / 4).softmax(1), atol=1e-5)
    (run.dir / "calibration.json").write_text("{broken")
    code, _, err = main("predict", run.dir, tmp_path / "0.png")
    assert code == 2 and "calibration.json is damaged" in err and "vislab calibrate" in err
