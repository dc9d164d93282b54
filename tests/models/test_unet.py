"""The UNet family from model.* keys: output at the input size, each variant's structure, bad settings."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vislab import config, models
from vislab.data import DataInfo
from vislab.models.aspp import ASPP
from vislab.models.contract import contract_of

INFO = DataInfo(task="segmentation", num_classes=5, class_names=list("abcde"), channels=1, mean=[0.5], std=[0.2])


def build(**keys):
    return models.build(config.resolve("shapes-unet", {f"model.{k}": v for k, v in keys.items()}).model, INFO)


def count(model, kind):
    return sum(isinstance(m, kind) for m in model.modules())


@pytest.mark.parametrize("size", [(32, 32), (37, 45), (16, 70)])
def test_output_has_the_input_size_whatever_it_is(size):
    model = build(depth=5, widths=[4, 8, 16, 32, 64], residual="both", center="aspp", dilations=[1, 1, 1, 2, 2]).eval()
    assert model(torch.randn(2, 1, *size)).shape == (2, 5, *size)


def test_depth_3_is_the_64_128_256_baseline_and_depth_5_doubles_from_32():
    baseline = models.build(config.resolve("voc-unet-baseline").model, INFO)
    assert [b.body[0].out_channels for b in baseline.encoder] == [64, 128] and baseline.center.body[0].out_channels == 256
    assert count(baseline, nn.BatchNorm2d) == 0 and contract_of(baseline).output_stride == 4
    deep = build(depth=5, widths=None)
    assert [b.body[0].out_channels for b in deep.encoder] == [32, 64, 128, 256] and contract_of(deep).output_stride == 16


def test_residual_blocks_project_where_channels_differ_and_only_where_asked():
    plain, enc, both = build(residual="none"), build(residual="encoder"), build(residual="both")
    assert all(b.shortcut is None for b in [*plain.encoder, *plain.decoder])
    assert all(b.shortcut is not None for b in enc.encoder) and all(b.shortcut is None for b in enc.decoder)
    assert all(b.shortcut is not None for b in both.decoder)
    assert isinstance(both.encoder[0].shortcut, nn.Sequential)  # 1 -> 16 channels: a 1x1 projection


def test_aspp_center_dilations_and_dropout():
    model = build(center="aspp", aspp_rates=[2, 3], dilations=[1, 2, 2, 1], dropout=0.3, batchnorm=False)
    assert isinstance(model.center, ASPP) and [b[0].dilation for b in model.center.branches] == [(1, 1), (2, 2), (3, 3)]
    assert model.encoder[1].body[0].dilation == (2, 2) and isinstance(model.dropout, nn.Dropout2d)
    assert model.dropout.p == 0.3 and count(model, nn.BatchNorm2d) == 0


def test_aspp_runs_on_a_batch_of_one_in_training():
    block = ASPP(8, 6, [1, 2])
    assert block(torch.randn(1, 8, 5, 7)).shape == (1, 6, 5, 7)


def test_channels_and_classes_follow_the_data_unless_set():
    model = build()
    assert model.encoder[0].body[0].in_channels == 1 and model.head.out_channels == 5
    model = build(in_channels=3, num_classes=2)
    assert model.encoder[0].body[0].in_channels == 3 and model.head.out_channels == 2


def test_widths_that_do_not_match_the_depth_exit_2(main):
    code, _, err = main("train", "shapes-unet", "data.num_samples=8", "model.depth=3")
    assert code == 2 and "model.widths has 4 entries but model.depth=3" in err
