"""Every model family states its heads, output stride and backbone, and keeps its word on a real forward."""

from __future__ import annotations

import pytest

from vislab import config, models
from vislab.data import DataInfo
from vislab.errors import VislabError
from vislab.models import contract as contract_mod

SEG = DataInfo("segmentation", 4, list("abcd"), 1, [0.5], [0.2], thing_classes=[1, 2, 3])
CLS = DataInfo("classification", 3, list("abc"), 1, [0.5], [0.2], image_size=(32, 32))
DG = DataInfo("domain_generalization", 3, list("abc"), 1, [0.5], [0.2], domains=["x", "y"], image_size=(32, 32))

# (model.* keys, data, heads, output stride, backbone)
CASES = {
    "unet": ({"name": "unet", "depth": 3, "widths": [4, 8, 16]}, SEG, {"out": "head"}, 4, ()),
    "unet-panoptic": ({"name": "unet", "depth": 4, "widths": [4, 8, 16, 32], "heads": "panoptic"}, SEG,
                      {"out": "head", "center": "center_head", "offset": "offset_head"}, 8, ()),
    "panoptic_deeplab": ({"name": "panoptic_deeplab"}, SEG,
                         {"out": "semantic_head", "center": "center_head", "offset": "offset_head"}, 16, ("backbone",)),
    "deeplabv3": ({"name": "deeplabv3_resnet50", "aux_loss": True}, SEG,
                  {"out": "classifier", "aux": "aux_classifier"}, 8, ("backbone",)),
    "smp": ({"name": "smp/DeepLabV3Plus:resnet18"}, SEG, {"out": "segmentation_head"}, 16, ("encoder",)),
    "cnn-mnist": ({"name": "cnn-mnist"}, CLS, {"out": "classifier"}, None, ("features", "fc")),
    "cnn-dg": ({"name": "cnn-dg"}, CLS, {"out": "classifier"}, None, ("block1", "block2", "block3", "block4")),
    "torchvision": ({"name": "resnet18"}, CLS, {"out": "fc"}, None, ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")),
    "timm": ({"name": "timm/resnet10t"}, CLS, {"out": "fc"}, None, ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")),
    "domain-generalization": ({"name": "cnn-dg", "domain_head": True}, DG,
                              {"logits": "net.classifier", "domain_logits": "net.classifier.domain"}, None,
                              ("net.block1", "net.block2", "net.block3", "net.block4")),
}


def build(keys: dict, info: DataInfo):
    cfg = config.resolve({"data": {"name": "shapes"}}, {f"model.{k}": v for k, v in keys.items()})
    if info.task == "domain_generalization":  # the task wraps the classifier (tasks.domain_generalization)
        from vislab.models.domain_generalization import with_domains

        return with_domains(models.build(cfg.model, info), cfg.model, info)
    return models.build(cfg.model, info)




@pytest.mark.parametrize("case", CASES)
def test_each_family_states_its_heads_stride_and_backbone_and_keeps_them(case):
    keys, info, heads, stride, backbone = CASES[case]
    if keys["name"].startswith("smp/"):
        pytest.importorskip("segmentation_models_pytorch")
    model = build(keys, info)
    stated = contract_mod.contract_of(model)
    assert (stated.heads, stated.output_stride, stated.backbone) == (heads, stride, backbone)
    size = info.image_size or (2 * stride, 3 * stride)
    outputs = contract_mod.check(model, info.channels, size)
    assert set(outputs) == set(heads)


def test_every_family_has_a_case():
    families = {models.family_of(keys["name"]) for keys, *_ in CASES.values()}
    assert families == {*models.MODELS.values(), *models.PREFIXES.values(), models.TORCHVISION}


def test_a_model_that_breaks_its_contract_is_named():
    model = build(CASES["unet"][0], SEG)
    model.contract = contract_mod.Contract({"out": "head", "aux": "aux_head"}, output_stride=4)
    with pytest.raises(VislabError, match="no.*aux_head|does not have"):
        contract_mod.check(model, 1)
    model.contract = contract_mod.Contract({"out": "head", "center": "head"}, output_stride=4)
    with pytest.raises(VislabError, match=r"outputs \['out'\], the contract says \['center', 'out'\]"):
        contract_mod.check(model, 1)
