"""Models with panoptic heads: Panoptic-DeepLab on a torchvision ResNet, and the UNet family's model.heads=panoptic."""

from __future__ import annotations

import pytest
import torch
import torchvision

from vislab import config, models
from vislab.data import DataInfo
from vislab.errors import VislabError

INFO = DataInfo(task="segmentation", num_classes=4, class_names=list("abcd"), channels=1, mean=[0.5], std=[0.2],
                thing_classes=[1, 2, 3])


UNET_DEFAULTS = ("model.depth=5", "model.widths=null", "model.residual=none")  # shapes-panoptic's unet keys, reset


def build(**keys):
    base = "shapes-panoptic" if keys.get("name", "unet") == "unet" else {"data": {"name": "shapes"}}  # unet's keys are the recipe's
    cfg = config.resolve(base, {f"model.{k}": v for k, v in keys.items()})
    return models.build(cfg.model, INFO)


def test_panoptic_deeplab_gives_semantic_center_and_offset_maps_at_the_input_size():
    model = build(name="panoptic_deeplab").eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 40, 56))
    assert {k: tuple(v.shape) for k, v in out.items()} == {"out": (2, 4, 40, 56), "center": (2, 1, 40, 56), "offset": (2, 2, 40, 56)}
    assert model.backbone.conv1.in_channels == 1 and model.backbone.layer4[0].conv2.stride == (1, 1)  # output stride 16


def test_panoptic_deeplab_loads_a_resnet_weights_file_into_its_backbone(tmp_path):
    resnet = torchvision.models.resnet50()
    torch.save(resnet.state_dict(), tmp_path / "r50.pth")
    model = build(name="panoptic_deeplab", weights=str(tmp_path / "r50.pth"))
    assert torch.equal(model.backbone.layer3[2].conv1.weight, resnet.layer3[2].conv1.weight)
    with pytest.raises(VislabError, match="model.backbone=resnet18: panoptic_deeplab takes resnet50 or resnet101"):
        build(name="panoptic_deeplab", backbone="resnet18")


def test_pretrained_backbone_offline_exit_2_naming_the_file(offline, tmp_path, main):
    code, _, err = main("train", "shapes-panoptic", "data.num_samples=8", "model.name=panoptic_deeplab",
                        "model.backbone=resnet101", "model.pretrained=true", *UNET_DEFAULTS)
    assert code == 2 and "Traceback" not in err
    assert "resnet101-cd907fc2.pth" in err and str(tmp_path / "torch" / "hub" / "checkpoints") in err
    assert not list(tmp_path.glob("runs/*/*/config.yaml"))  # checked before any run directory


def test_unet_panoptic_heads_add_an_instance_decoder_and_leave_the_semantic_model_as_it_was():
    model = build(heads="panoptic")
    out = model(torch.randn(2, 1, 32, 24))
    assert {k: tuple(v.shape) for k, v in out.items()} == {"out": (2, 4, 32, 24), "center": (2, 1, 32, 24), "offset": (2, 2, 32, 24)}
    semantic = build(heads="semantic")
    assert set(semantic.state_dict()) < set(model.state_dict())
    assert not any(k.startswith(("instance_decoder", "center_head", "offset_head")) for k in semantic.state_dict())


def test_panoptic_heads_on_a_model_without_them_is_bad_input():
    with pytest.raises(VislabError, match="model.heads=panoptic: deeplabv3_resnet50 has no center and offset heads; use unet or panoptic_deeplab"):
        build(name="deeplabv3_resnet50", heads="panoptic")
