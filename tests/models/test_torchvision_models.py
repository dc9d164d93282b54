"""torchvision classification models by name: head and stem fitted to the data, weights, stochastic depth."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
import torch
import torchvision

from vislab.config import resolve
from vislab.data.bundle import DataInfo
from vislab.errors import VislabError
from vislab.models import build

GRAY10 = DataInfo("classification", 10, [str(i) for i in range(10)], 1, [0.5], [0.25], image_size=(32, 32))


def model_cfg(name: str, **keys):
    return resolve("digits", {"model.name": name, **{f"model.{k}": v for k, v in keys.items()}}).model


def imagenet_file(tmp_path: Path, name: str = "resnet18") -> tuple[Path, dict]:
    """A state dict shaped like the ImageNet weights (3 channels, 1000 classes)."""
    state = torchvision.models.get_model(name).state_dict()
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    return path, state


def test_head_and_stem_follow_the_data():
    model = build(model_cfg("resnet18", dropout=0.3), GRAY10)
    assert model.conv1.in_channels == 1 and model.fc.out_features == 10 and model.fc.dropout == 0.3
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    effnet = build(model_cfg("efficientnet_b0", dropout=0.4, drop_path=0.3), GRAY10)
    assert effnet.classifier[0].p == 0.4 and effnet.classifier[1].out_features == 10  # its own dropout, reused
    depths = [m.p for m in effnet.modules() if isinstance(m, torchvision.ops.StochasticDepth)]
    assert depths[0] == 0.0 and 0.28 < depths[-1] <= 0.3  # torchvision's linear rule up to drop_path


def test_a_weights_file_loads_with_the_stem_summed_and_the_head_left_out(tmp_path):
    path, state = imagenet_file(tmp_path)
    model = build(model_cfg("resnet18", weights=str(path)), GRAY10)
    assert torch.allclose(model.conv1.weight, state["conv1.weight"].sum(1, keepdim=True))
    assert torch.equal(model.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    assert model.fc.weight.shape == (10, 512)
    with pytest.raises(VislabError, match="does not fit this model"):
        build(model_cfg("resnet34", weights=str(path)), GRAY10)


def test_pretrained_weights_come_from_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    _, state = imagenet_file(tmp_path)
    torch.save(state, cached)
    model = build(model_cfg("resnet18", pretrained=True), GRAY10)
    assert torch.equal(model.layer1[0].conv1.weight, state["layer1.0.conv1.weight"])


def test_offline_pretrained_names_the_file_and_the_folder(main, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    refusing = urllib.request.build_opener(urllib.request.ProxyHandler({"https": "http://127.0.0.1:9"}))
    monkeypatch.setattr(urllib.request, "_opener", refusing)  # offline: every download is refused
    code, _, err = main("train", "digits", "model.name=resnet18", "model.pretrained=true")
    assert code == 2 and "resnet18-f37072fd.pth" in err and str(tmp_path / "torch" / "hub" / "checkpoints") in err
    assert "model.weights" in err and not (tmp_path / "runs" / "digits").exists()


def test_names_and_options_a_model_lacks_are_bad_input(main):
    code, _, err = main("train", "digits", "model.name=resnet19")
    assert code == 2 and "did you mean resnet18" in err
    code, _, err = main("train", "digits", "model.name=resnet18", "model.drop_path=0.1")
    assert code == 2 and "resnet18 has no stochastic depth" in err


@pytest.mark.parametrize("keys", [{"drop_path": 0}, {"drop_path": 0.0}, {"dropout": 0}])
def test_a_rate_of_zero_means_off_wherever_the_key_is(keys):
    model = build(model_cfg("resnet18", **keys), GRAY10)  # resnet18 has no stochastic depth: 0 asks for none
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("recipe, key", [("shapes-unet", "aug.cutmix={p: 0}"), ("digits", "model.mixstyle={p: 0}")])
def test_a_mixing_probability_of_zero_is_off_where_mixing_does_not_apply(main, recipe, key):
    extra = ["data.num_samples=8"] if recipe == "shapes-unet" else ["data.limit=32"]
    code, out, err = main("train", recipe, key, *extra, "train.epochs=1", "train.limit_batches=1", "train.progress=false")
    assert code == 0, err
