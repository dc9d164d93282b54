"""model.freeze: frozen stages keep their weights and their BatchNorm statistics through training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vislab.config import resolve
from vislab.data.bundle import DataInfo
from vislab.errors import VislabError
from vislab.models import build

GRAY10 = DataInfo("classification", 10, [str(i) for i in range(10)], 1, [0.5], [0.25], image_size=(8, 8))


def test_frozen_stages_keep_weights_and_statistics_through_the_loop(main):
    overrides = ["model.freeze=[stem, features.2]", "train.epochs=1", "train.limit_batches=2", "train.progress=false"]
    code, out, err = main("train", "digits", *overrides)
    assert code == 0, err
    trained = torch.load(Path(out.split("run directory: ")[1].split()[0]) / "checkpoints" / "last.pt", weights_only=True)["model"]
    cfg = resolve("digits", {"model.freeze": ["stem", "features.2"]})
    torch.manual_seed(cfg.train.seed)  # the loop seeds, then builds the model: the same initial weights
    initial = build(cfg.model, GRAY10).state_dict()
    assert torch.equal(trained["features.0.weight"], initial["features.0.weight"])  # stem: frozen
    assert torch.equal(trained["features.2.running_mean"], torch.zeros(32))  # frozen BatchNorm statistics
    assert torch.equal(trained["features.2.running_var"], torch.ones(32))
    assert not torch.equal(trained["features.6.running_mean"], torch.zeros(64))  # not frozen: they moved
    assert not torch.equal(trained["features.4.weight"], initial["features.4.weight"])


def test_model_train_leaves_frozen_batchnorm_in_eval_mode():
    model = build(resolve("digits", {"model.name": "resnet18", "model.freeze": ["layer1"]}).model, GRAY10)
    model.train()
    assert not model.layer1[0].bn1.training and model.layer2[0].bn1.training
    assert isinstance(model.layer1[0].bn1, torch.nn.BatchNorm2d)
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert set(model.state_dict()) == set(build(resolve("digits", {"model.name": "resnet18"}).model, GRAY10).state_dict())


def test_an_unknown_stage_names_the_close_ones():
    with pytest.raises(VislabError, match="did you mean layer1"):
        build(resolve("digits", {"model.name": "resnet18", "model.freeze": ["layer_1"]}).model, GRAY10)
