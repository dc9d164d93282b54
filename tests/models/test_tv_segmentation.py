"""torchvision segmentation models and smp by name: heads, channels, pretrained files, offline messages."""

from __future__ import annotations

import torch

from vislab import config, models
from vislab.data import DataInfo
from vislab.models.contract import contract_of
from vislab.models.tv_segmentation import torchvision_segmentation

SHAPES = {"data": {"name": "shapes"}}  # a recipe without shapes-unet's unet keys, which these models do not read
INFO = DataInfo(task="segmentation", num_classes=4, class_names=list("abcd"), channels=1, mean=[0.5], std=[0.2])


def build(name, **keys):
    cfg = config.resolve(SHAPES, {"model.name": name, **{f"model.{k}": v for k, v in keys.items()}})
    return models.build(cfg.model, INFO)


def test_lraspp_follows_the_data_channels_and_classes_and_pads_to_its_stride():
    model = build("lraspp_mobilenet_v3_large").eval()
    out = model(torch.randn(1, 1, 48, 64))
    assert out["out"].shape == (1, 4, 48, 64) and "aux" not in out and contract_of(model).output_stride == 16


def test_weights_file_loads_full_weights_and_remakes_both_classifiers(tmp_path):
    voc = DataInfo("segmentation", 21, [str(i) for i in range(21)], 3, [0.5] * 3, [0.2] * 3)
    source = torchvision_segmentation(config.resolve(SHAPES, {"model.name": "lraspp_mobilenet_v3_large"}).model, voc)
    torch.save(source.state_dict(), tmp_path / "lraspp.pth")
    model = build("lraspp_mobilenet_v3_large", weights=str(tmp_path / "lraspp.pth"))
    assert torch.equal(model.backbone["4"].block[0][0].weight, source.backbone["4"].block[0][0].weight)
    assert (model.classifier.low_classifier.out_channels, model.classifier.high_classifier.out_channels) == (4, 4)
    first, rgb = model.backbone["0"][0].weight, source.backbone["0"][0].weight
    assert first.shape[1] == 1 and torch.allclose(first[:, 0], rgb.sum(1))


def test_the_aux_head_is_off_from_scratch_unless_asked_for_and_its_loss_weighs_half():
    from vislab.tasks.segmentation import SegmentationTask

    assert build("deeplabv3_resnet50").aux_classifier is None
    model = build("deeplabv3_resnet50", aux_loss=True)
    cfg = config.resolve(SHAPES, {"model.name": "deeplabv3_resnet50"})
    task = SegmentationTask(cfg, INFO)
    batch = {"image": torch.randn(2, 1, 32, 32), "target": torch.randint(0, 4, (2, 32, 32))}
    out = task.forward(model, batch)
    assert out["aux"].shape == out["out"].shape == (2, 4, 32, 32)
    main, aux = task.pixel_loss(out["out"], batch["target"]), task.pixel_loss(out["aux"], batch["target"])
    assert torch.allclose(task.loss(out, batch), main + 0.5 * aux)


def test_pretrained_weights_offline_exit_2_naming_the_file_and_where_to_put_it(offline, tmp_path, main):
    code, _, err = main("train", "shapes-unet", "data.num_samples=8", "model.name=lraspp_mobilenet_v3_large", "model.pretrained=true",
                        "model.depth=5", "model.widths=null", "model.residual=none")  # the recipe's unet keys, reset
    assert code == 2 and "Traceback" not in err
    assert "lraspp_mobilenet_v3_large-d234d4ea.pth" in err and str(tmp_path / "torch" / "hub" / "checkpoints") in err


def test_smp_names_the_package_to_install_when_absent(main):
    try:
        import segmentation_models_pytorch  # noqa: F401
    except ImportError:
        code, _, err = main("train", "shapes-unet", "data.num_samples=8", "model.name=smp/Unet:resnet34", "model.depth=5",
                            "model.widths=null", "model.residual=none")
        assert code == 2 and "pip install segmentation-models-pytorch" in err
    else:
        model = build("smp/Unet:resnet18")
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 4, 64, 64)


def test_unknown_model_names_list_close_ones(main):
    code, _, err = main("train", "shapes-unet", "data.num_samples=8", "model.name=deeplabv3_resnet5")
    assert code == 2 and "deeplabv3_resnet50" in err
