"""timm models as timm/<name>: classes, channels, dropout and stochastic depth through timm; weights files."""

from __future__ import annotations

import pytest
import timm
import torch

from vislab.config import resolve
from vislab.data.bundle import DataInfo
from vislab.errors import VislabError
from vislab.models import build

GRAY10 = DataInfo("classification", 10, [str(i) for i in range(10)], 1, [0.5], [0.25], image_size=(32, 32))


def model_cfg(name: str, **keys):
    return resolve("digits", {"model.name": name, **{f"model.{k}": v for k, v in keys.items()}}).model


def test_timm_models_fit_the_data_and_take_dropout_and_drop_path():
    model = build(model_cfg("timm/resnet10t", dropout=0.25, drop_path=0.1, freeze=["stem"]), GRAY10)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    assert model.drop_rate == 0.25 and any(type(m).__name__ == "DropPath" for m in model.modules())
    assert not any(p.requires_grad for p in model.conv1.parameters()) and model.fc.weight.requires_grad


def test_a_weights_file_for_imagenet_loads_into_a_gray_ten_class_model(tmp_path):
    state = timm.create_model("resnet10t").state_dict()
    torch.save(state, tmp_path / "resnet10t.pth")
    model = build(model_cfg("timm/resnet10t", weights=str(tmp_path / "resnet10t.pth")), GRAY10)
    assert torch.allclose(model.conv1[0].weight, state["conv1.0.weight"].sum(1, keepdim=True))
    assert torch.equal(model.layer2[0].conv1.weight, state["layer2.0.conv1.weight"])
    with pytest.raises(VislabError, match="does not fit this model"):
        build(model_cfg("timm/resnet14t", weights=str(tmp_path / "resnet10t.pth")), GRAY10)


def test_offline_pretrained_and_unknown_names_are_bad_input(main, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # what HF_HUB_OFFLINE=1 sets
    code, _, err = main("train", "digits", "model.name=timm/resnet10t", "model.pretrained=true")
    assert code == 2 and "https://huggingface.co/timm/resnet10t" in err and "model.weights=PATH" in err
    code, _, err = main("train", "digits", "model.name=timm/resnet10x")
    assert code == 2 and "timm/resnet10t" in err
