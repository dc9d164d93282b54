"""Parameter groups (backbone rate, layer-wise decay, no decay on norms and biases) and the poly schedule, as numbers."""

from __future__ import annotations

import pytest
import torch

from vislab import config, models
from vislab.config import OptimConfig, SchedConfig
from vislab.data import DataInfo
from vislab.engine.optim import LrFactor, build_optimizer, build_scheduler
from vislab.errors import VislabError

INFO = DataInfo("classification", 3, list("abc"), 1, [0.5], [0.2], image_size=(16, 16))


def model(name: str = "cnn-dg"):
    return models.build(config.resolve("digits", {"model.name": name}).model, INFO)


def groups(net, **optim) -> list[tuple[float, float, list[str]]]:
    """(lr, weight decay, parameter names) per group, in the optimizer's order."""
    names = {id(p): n for n, p in net.named_parameters()}
    opt = build_optimizer(OptimConfig(**{"name": "adamw", "lr": 1e-3, "weight_decay": 0.05, **optim}), net)
    return [(g["lr"], g["weight_decay"], [names[id(p)] for p in g["params"]]) for g in opt.param_groups]


def test_without_options_one_group_at_the_base_rate():
    net = model()
    assert [(lr, wd, len(ps)) for lr, wd, ps in groups(net)] == [(1e-3, 0.05, len(list(net.parameters())))]


def test_backbone_lr_mult_scales_what_the_contract_calls_backbone():
    (head_lr, _, head), (backbone_lr, _, backbone) = groups(model(), backbone_lr_mult=0.1)
    assert head_lr == pytest.approx(1e-3) and backbone_lr == pytest.approx(1e-4)
    assert head == ["classifier.weight", "classifier.bias"] and all(n.startswith("block") for n in backbone)


def test_no_decay_norm_bias_exempts_one_dimensional_parameters():
    (lr1, wd1, decayed), (lr2, wd2, exempt) = groups(model(), no_decay_norm_bias=True)
    assert (lr1, wd1, lr2, wd2) == (1e-3, 0.05, 1e-3, 0.0)
    assert decayed == [f"block{i}.0.weight" for i in range(1, 5)] + ["classifier.weight"]
    assert "block1.1.weight" in exempt and "block1.0.bias" in exempt and "classifier.bias" in exempt


def test_layer_decay_lowers_the_rate_block_by_block_from_the_head():
    rates = {n: lr for lr, _, names in groups(model(), layer_decay=0.5) for n in names}
    assert rates["classifier.weight"] == pytest.approx(1e-3)
    assert [rates[f"block{i}.0.weight"] for i in (4, 3, 2, 1)] == pytest.approx([5e-4, 2.5e-4, 1.25e-4, 6.25e-5])
    assert rates["block2.1.bias"] == rates["block2.0.weight"]  # a block's BatchNorm learns at its convolution's rate


def test_layer_decay_on_a_timm_model_matches_timms_own_groups():
    timm_optim = pytest.importorskip("timm.optim")
    net = model("timm/resnet10t")
    ours = {n: lr / 1e-3 for lr, _, names in groups(net, layer_decay=0.7) for n in names}
    names = {id(p): n for n, p in net.named_parameters()}
    theirs = {names[id(p)]: g["lr_scale"] for g in timm_optim.param_groups_layer_decay(net, layer_decay=0.7) for p in g["params"]}
    assert ours == pytest.approx(theirs)


def test_schedules_keep_the_ratio_between_groups():
    opt = build_optimizer(OptimConfig(lr=1.0, backbone_lr_mult=0.1), model())
    scheduler = build_scheduler(SchedConfig(name="poly", power=0.9), opt, 10, 2)
    for _ in range(7):
        opt.step()
        scheduler.step()
    head, backbone = (g["lr"] for g in opt.param_groups)
    assert head == pytest.approx((1 - 7 / 20) ** 0.9) and backbone == pytest.approx(0.1 * head)


def test_poly_matches_torch_polynomial_lr_and_ends_at_min_lr():
    ours = build_scheduler(SchedConfig(name="poly", power=0.9), torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.5), 10, 3)
    ref_opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.5)
    ref = torch.optim.lr_scheduler.PolynomialLR(ref_opt, total_iters=30, power=0.9)
    lrs = []
    for _ in range(30):
        lrs.append((ours.optimizer.param_groups[0]["lr"], ref_opt.param_groups[0]["lr"]))
        for s in (ours, ref):
            s.optimizer.step()
            s.step()
    assert [a for a, _ in lrs] == pytest.approx([b for _, b in lrs], rel=1e-9)
    f = LrFactor(SchedConfig(name="poly", power=2.0, min_lr=0.1), 1.0, 10, 1)
    assert [f(0), f(5), f(10)] == pytest.approx([1.0, 0.1 + 0.9 * 0.25, 0.1])


def test_groups_a_model_cannot_have_are_named():
    unet = models.build(config.resolve("shapes-unet", {"model.depth": 2, "model.widths": [4, 8]}).model,
                        DataInfo("segmentation", 3, list("abc"), 1, [0.5], [0.2]))
    with pytest.raises(VislabError, match="optim.backbone_lr_mult: UNet has no pretrained backbone"):
        build_optimizer(OptimConfig(backbone_lr_mult=0.1), unet)
    with pytest.raises(VislabError, match="optim.layer_decay: UNet has no backbone layers"):
        build_optimizer(OptimConfig(layer_decay=0.7), unet)
