"""MixStyle: the statistics it mixes, its partners, where it sits in a model, and the heads beside it."""

from __future__ import annotations

import pytest
import torch

from vislab.config import MixStyleConfig, resolve
from vislab.data.bundle import DataInfo
from vislab.errors import VislabError
from vislab.tasks import build as build_task
from vislab.tasks.domain_generalization import DomainGeneralizationTask
from vislab.models.mixstyle import MixStyle, cross_domain_partners, mix_styles

EPS = 1e-6
RGB = DataInfo("domain_generalization", 5, list("abcde"), 3, [0.5] * 3, [0.25] * 3, domains=["p", "q", "r"],
               image_size=(32, 32))


def stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel mean and std (from the unbiased variance + eps): [B, C] each."""
    return x.mean((2, 3)), (x.var((2, 3)) + EPS).sqrt()


def test_lambda_one_is_the_identity():
    x = torch.randn(4, 3, 5, 6, dtype=torch.float64) * 3 + 1
    out = mix_styles(x, torch.ones(4), torch.tensor([3, 2, 1, 0]), EPS)
    torch.testing.assert_close(out, x)


def test_the_output_statistics_are_the_lambda_mixtures_of_the_two_samples():
    g = torch.Generator().manual_seed(0)
    scale = torch.rand(6, 4, 1, 1, generator=g, dtype=torch.float64) * 4 + 0.5
    shift = torch.randn(6, 4, 1, 1, generator=g, dtype=torch.float64) * 3
    x = torch.randn(6, 4, 7, 7, generator=g, dtype=torch.float64) * scale + shift
    lam = torch.tensor([0.0, 0.25, 0.5, 0.9, 1.0, 0.1], dtype=torch.float64)
    partner = torch.tensor([1, 0, 3, 2, 5, 4])
    mu, sig = stats(x)
    out_mu, out_sig = stats(mix_styles(x, lam, partner, EPS))
    torch.testing.assert_close(out_mu, lam[:, None] * mu + (1 - lam[:, None]) * mu[partner])
    # eps leaves the normalized features a std of sqrt(var / (var + eps)), a hair below 1
    torch.testing.assert_close(out_sig, lam[:, None] * sig + (1 - lam[:, None]) * sig[partner], rtol=1e-5, atol=0)


def test_statistics_are_detached_so_gradients_flow_only_through_the_normalized_features():
    x = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    lam, partner = torch.tensor([0.3, 0.6], dtype=torch.float64), torch.tensor([1, 0])
    mix_styles(x, lam, partner, EPS).sum().backward()
    # with mu and sigma constants the map is x -> (x - mu) / sig * sig_mix + mu_mix: slope sig_mix / sig
    _, sig = stats(x.detach())
    sig_mix = lam[:, None] * sig + (1 - lam[:, None]) * sig[partner]
    torch.testing.assert_close(x.grad, (sig_mix / sig).view(2, 1, 1, 1).expand(2, 1, 3, 3))


def test_cross_domain_partners_come_from_another_domain():
    torch.manual_seed(0)
    domains = torch.tensor([0, 0, 0, 1, 2, 2, 1, 0])
    for _ in range(20):
        partner = cross_domain_partners(domains)
        assert (domains[partner] != domains).all()
    alone = cross_domain_partners(torch.tensor([1, 1, 1]))  # no other domain: each keeps its own style
    assert alone.tolist() == [0, 1, 2]


def test_mixstyle_mixes_only_in_training_with_probability_p_and_records_each_mixing():
    torch.manual_seed(0)
    layer = MixStyle(MixStyleConfig(p=0.5, alpha=0.1))
    x = torch.randn(8, 3, 4, 4)
    layer.eval()
    layer.start(None)
    assert layer(x) is x and layer.finish() == []
    layer.train()
    layer.start(None)
    mixed = sum(layer(x) is not x for _ in range(400))
    mixes = layer.finish()
    assert len(mixes) == mixed and 150 < mixed < 250  # p = 0.5 of 400 batches
    lam, partner = mixes[0]
    assert lam.shape == (8,) and sorted(partner.tolist()) == list(range(8))  # random: a permutation
    assert (lam < 0.05).sum() + (lam > 0.95).sum() >= 4  # Beta(0.1, 0.1) puts most weight near 0 and 1


def test_bad_settings_are_named():
    with pytest.raises(VislabError, match="p in"):
        MixStyle(MixStyleConfig(p=1.5))


def dg_model(recipe: str = "digits-dg-mixstyle", **overrides):
    """The model the domain-generalization task builds (it wraps the classifier)."""
    cfg = resolve(recipe, overrides)
    return DomainGeneralizationTask(cfg, RGB).build_model(cfg, RGB)


def test_the_model_answers_with_class_and_domain_logits_and_its_mixings():
    torch.manual_seed(0)
    model = dg_model(**{"model.mixstyle.p": 1.0, "model.mixstyle.mix": "crossdomain"})
    x, domains = torch.randn(6, 3, 32, 32), torch.tensor([0, 0, 0, 1, 1, 2])
    out = model(x, domains)
    assert out["logits"].shape == (6, 5) and out["domain_logits"].shape == (6, 3)
    assert len(out["mixes"]) == 2  # after block1 and after block2
    for lam, partner in out["mixes"]:
        assert lam.shape == (6,) and (domains[partner] != domains).all()
    model.eval()
    out = model(x)
    assert out["mixes"] == []
    # the class head keeps its name, so weights of a classifier without a domain head load
    keys = set(model.state_dict())
    assert {"net.classifier.weight", "net.classifier.domain.weight"} <= keys


def test_mixstyle_sits_after_resnet_stages_and_the_freeze_still_holds():
    model = dg_model("officehome-mixstyle", **{"model.pretrained": False, "model.name": "resnet18"})  # resnet50's stages, smaller
    assert not any(p.requires_grad for p in model.net.layer1.parameters())
    assert all(p.requires_grad for p in model.net.layer2.parameters())
    assert model.net.fc.dropout == 0.5 and model.net.fc.domain.out_features == 3
    model.train()
    torch.manual_seed(1)
    model.mixstyle.p = 1.0
    out = model(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0]))
    assert len(out["mixes"]) == 2 and out["logits"].shape == (4, 5)


def test_stages_that_are_not_feature_maps_or_do_not_exist_are_bad_input():
    with pytest.raises(VislabError, match="no stage 'block9'; did you mean block4, block3"):
        dg_model(**{"model.mixstyle.layers": ["block9"]})
    with pytest.raises(VislabError, match="stage 'dropout' gives \\[2, 128\\], not feature maps"):
        dg_model(**{"model.mixstyle.layers": ["dropout"]})


def test_mixstyle_and_domain_head_need_the_domain_generalization_task():
    info = DataInfo("classification", 5, list("abcde"), 3, [0.5] * 3, [0.25] * 3, image_size=(32, 32))
    with pytest.raises(VislabError, match="need task.name=domain_generalization"):
        build_task(resolve("digits-dg-mixstyle"), info)
    with pytest.raises(VislabError, match="need task.name=domain_generalization .*not classification"):
        build_task(resolve("digits-dg-mixstyle", {"task.name": "classification"}), RGB)
