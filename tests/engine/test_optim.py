"""Optimizers and schedules by name, checked against torch's own schedulers where the definitions agree."""

from __future__ import annotations

import math

import pytest
import torch

from vislab.config import OptimConfig, SchedConfig
from vislab.engine.optim import LrFactor, build_optimizer, build_scheduler


def _model() -> torch.nn.Module:
    return torch.nn.Linear(3, 2)


@pytest.mark.parametrize(
    "name, cls", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("rmsprop", torch.optim.RMSprop)]
)
def test_optimizer_by_name(name, cls):
    opt = build_optimizer(OptimConfig(name=name, lr=0.01, weight_decay=1e-4), _model())
    assert type(opt) is cls
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[0]["weight_decay"] == 1e-4


def test_sgd_nesterov_and_frozen_parameters_left_out():
    model = _model()
    model.bias.requires_grad_(False)
    opt = build_optimizer(OptimConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True), model)
    assert opt.param_groups[0]["nesterov"] is True
    assert [p.shape for p in opt.param_groups[0]["params"]] == [model.weight.shape]


def _lrs(scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(scheduler.optimizer.param_groups[0]["lr"])
        scheduler.optimizer.step()
        scheduler.step()
    return out


def test_step_schedule_matches_torch_steplr_at_every_epoch():
    spe, epochs = 7, 12
    ours = build_scheduler(SchedConfig(name="step", step_size=4, gamma=0.5), torch.optim.SGD(_model().parameters(), lr=1.0), spe, epochs)
    ref_opt = torch.optim.SGD(_model().parameters(), lr=1.0)
    ref = torch.optim.lr_scheduler.StepLR(ref_opt, step_size=4, gamma=0.5)
    per_step = _lrs(ours, spe * epochs)
    for epoch in range(epochs):
        assert per_step[epoch * spe : (epoch + 1) * spe] == [pytest.approx(ref_opt.param_groups[0]["lr"])] * spe
        ref_opt.step()
        ref.step()


def test_multistep_schedule():
    f = LrFactor(SchedConfig(name="multistep", milestones=[2, 5], gamma=0.1), 1.0, 10, 8)
    assert [round(f(e * 10), 6) for e in range(8)] == [1, 1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01]


def test_cosine_schedule_matches_torch_cosine_annealing():
    total = 50
    ours = build_scheduler(SchedConfig(name="cosine", min_lr=0.01), torch.optim.SGD(_model().parameters(), lr=0.5), 10, 5)
    ref_opt = torch.optim.SGD(_model().parameters(), lr=0.5)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, T_max=total, eta_min=0.01)
    assert _lrs(ours, total) == pytest.approx(_lrs(ref, total), rel=1e-9, abs=1e-12)


def test_onecycle_rises_to_the_base_rate_then_anneals():
    f = LrFactor(SchedConfig(name="onecycle", pct_start=0.3), 1.0, 10, 10)
    assert f(0) == pytest.approx(1 / 25)
    assert f(30) == pytest.approx(1.0)
    assert f(99) < 1e-3
    values = [f(s) for s in range(100)]
    assert values.index(max(values)) == 30


def test_warmup_is_linear_from_the_start_factor():
    f = LrFactor(SchedConfig(name="none", warmup_epochs=0.5, warmup_start_factor=0.2), 1.0, 20, 4)
    assert [f(s) for s in (0, 5, 10)] == pytest.approx([0.2, 0.6, 1.0])
    assert f(15) == 1.0


def test_schedule_state_loads_with_weights_only(tmp_path):
    sched = build_scheduler(SchedConfig(name="cosine"), torch.optim.SGD(_model().parameters(), lr=0.1), 5, 3)
    _lrs(sched, 4)
    torch.save(sched.state_dict(), tmp_path / "s.pt")
    state = torch.load(tmp_path / "s.pt", weights_only=True)
    fresh = build_scheduler(SchedConfig(name="cosine"), torch.optim.SGD(_model().parameters(), lr=0.1), 5, 3)
    fresh.load_state_dict(state)
    assert fresh.last_epoch == 4 and math.isclose(fresh.get_last_lr()[0], sched.get_last_lr()[0])
