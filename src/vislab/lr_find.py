"""The learning-rate range test (Smith, 2015; fastai's ``lr_find``): train a recipe's model from its initial
weights with its own optimizer, data, augmentation and training step, the rate growing exponentially from
``min_lr`` to ``max_lr`` one step at a time, and suggest a rate from the smoothed loss. Nothing is saved but
the curve: no run directory, no checkpoint.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path
from typing import Any, Optional

from .errors import VislabError

SMOOTHING = 0.98  # fastai's and torch-lr-finder's exponential smoothing of the loss
DIVERGED = 4.0  # the test stops once the smoothed loss exceeds this many times its minimum (fastai's rule)
SKIP_START, SKIP_END = 10, 5  # torch-lr-finder's margins: the first steps' loss is noise, the last ones' diverged


@dataclasses.dataclass
class LrFinding:
    """The curve (``rates`` and ``losses``, raw and ``smoothed``, one per step) and the suggestions: ``steepest``,
    the rate where the smoothed loss falls fastest against log(rate), and ``minimum_tenth``, the rate of its
    minimum divided by 10. ``csv`` and ``png`` are the files written."""

    rates: list[float]
    losses: list[float]
    smoothed: list[float]
    steepest: Optional[float]
    minimum_tenth: float
    csv: Path
    png: Path


def check_range(min_lr: float, max_lr: float, steps: int) -> None:
    """Bad input in the range, before anything is built."""
    if not 0 < min_lr < max_lr:
        raise VislabError(f"--min {min_lr} and --max {max_lr}: the range needs 0 < --min < --max (e.g. --min 1e-7 --max 10)")
    if steps < 2 * (SKIP_START + SKIP_END):
        raise VislabError(f"--steps {steps}: the test needs at least {2 * (SKIP_START + SKIP_END)} steps to suggest a rate")


def lr_find(
    recipe: str | Path, overrides: Optional[dict[str, Any]] = None, *, min_lr: float = 1e-7, max_lr: float = 10.0,
    steps: int = 100, out: str | Path = ".",
) -> LrFinding:
    """The range test on ``recipe`` with ``overrides``; writes OUT/lr_find.csv (step, rate, loss, smoothed loss)
    and OUT/lr_find.png (smoothed loss against rate, the suggestions marked)."""
    from . import config as config_mod

    check_range(min_lr, max_lr, steps)
    cfg = config_mod.resolve(recipe, overrides or {})
    folder = Path(out).expanduser()
    if not folder.is_dir():
        raise VislabError(f"--out {folder}: no such folder; create it or name another")
    rates, losses = range_test(cfg, min_lr, max_lr, steps)
    smoothed = smooth(losses)
    steepest, minimum_tenth = suggestions(rates, smoothed)
    finding = LrFinding(rates, losses, smoothed, steepest, minimum_tenth, folder / "lr_find.csv", folder / "lr_find.png")
    write_csv(finding)
    plot(finding, cfg.recipe)
    return finding


def range_test(cfg: Any, min_lr: float, max_lr: float, steps: int) -> tuple[list[float], list[float]]:
    """(rates, losses) of up to ``steps`` training steps at rates growing from ``min_lr`` to ``max_lr``; it stops
    early once the smoothed loss diverges. Every parameter group keeps its ratio to ``optim.lr``
    (``optim.backbone_lr_mult``, layer decay)."""
    from .schemes.settings import check as check_schemes

    check_schemes(cfg)
    from . import data, tasks
    from .engine import configure_backends, make_fabric, seed_all
    from .engine.evaluation import make_loader
    from .engine.layout import images_in_layout, model_in_layout
    from .engine.optim import build_optimizer
    from .engine.progressive import start_epoch
    from .engine.streams import stream_cursors
    from .schemes.task import wrap
    from .tasks.base import StepContext

    fabric = make_fabric(cfg.train)
    seed_all(cfg.train.seed)
    bundle = data.bootstrapped(data.build(cfg.data, cfg.aug), cfg.data, cfg.train.seed)
    task = wrap(tasks.build(cfg, bundle.info), cfg, bundle)
    model = task.build_model(cfg, bundle.info)
    configure_backends(cfg.train, fabric)
    extra_models = {name: fabric.to_device(m) for name, m in task.extra_models(model).items()}
    model = model_in_layout(model, cfg.train)
    optimizer = build_optimizer(cfg.optim, model)
    ratios = [group["lr"] / cfg.optim.lr for group in optimizer.param_groups]
    model, optimizer = fabric.setup(model, optimizer)
    loader = make_loader(cfg, bundle.train, fabric, bundle, train=True, sampler=task.train_sampler(bundle))
    if len(loader) == 0:
        raise VislabError(f"dataset {cfg.data.name}: the training split is empty")
    streams = stream_cursors(cfg, task.extra_streams(bundle), fabric, bundle)
    rates, losses, best = [], [], math.inf
    model.train()
    batches = (b for epoch in itertools.count() for b in epoch_batches(cfg, epoch, model, loader, start_epoch))
    for step, batch in zip(range(steps), batches):
        rate = min_lr * (max_lr / min_lr) ** (step / (steps - 1))
        for group, ratio in zip(optimizer.param_groups, ratios):
            group["lr"] = rate * ratio
        ctx = StepContext(fabric, 0, step, step, extra_models)
        ctx.batches = {name: cursor.batch_at(step) for name, cursor in streams.items()}
        for b in (batch, *ctx.batches.values()):
            b["image"] = images_in_layout(b["image"], cfg.train)
        loss, _ = task.training_step(model, batch, ctx)
        value = float(loss.detach())
        rates.append(rate)
        losses.append(value)
        smoothed = smooth(losses)[-1]
        if not math.isfinite(value) or smoothed > DIVERGED * best:
            break
        best = min(best, smoothed)
        fabric.backward(loss)
        if cfg.train.grad_clip:
            fabric.clip_gradients(model, optimizer, max_norm=cfg.train.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        task.after_optimizer_step(model, ctx)
    return rates, losses


def epoch_batches(cfg: Any, epoch: int, model: Any, loader: Any, start_epoch: Any) -> Any:
    """The batches of ``epoch``, after its setup as training does it (progressive sizes, CutMix/MixUp on or off)."""
    start_epoch(cfg, epoch, model, loader)
    yield from loader.epoch(epoch)


def smooth(losses: list[float]) -> list[float]:
    """The exponentially smoothed losses, bias-corrected (fastai's ``SmoothenValue``)."""
    out, average = [], 0.0
    for i, value in enumerate(losses, start=1):
        average = SMOOTHING * average + (1 - SMOOTHING) * value
        out.append(average / (1 - SMOOTHING**i))
    return out


def suggestions(rates: list[float], smoothed: list[float]) -> tuple[Optional[float], float]:
    """(steepest, minimum / 10): the rate where the smoothed loss falls fastest against log(rate), between
    torch-lr-finder's margins (None when the test stopped too early to leave any), and the rate of the smoothed
    loss's minimum divided by 10."""
    import numpy as np

    finite = [i for i, v in enumerate(smoothed) if math.isfinite(v)]
    minimum = rates[min(finite, key=lambda i: smoothed[i])] / 10 if finite else rates[0]
    kept = slice(SKIP_START, len(smoothed) - SKIP_END)
    log_rates, values = np.log(rates[kept]), np.asarray(smoothed[kept])
    if len(values) < 3 or not np.isfinite(values).all():
        return None, minimum
    return float(np.exp(log_rates[np.gradient(values, log_rates).argmin()])), minimum


def write_csv(finding: LrFinding) -> None:
    import csv

    with open(finding.csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "lr", "loss", "smoothed_loss"])
        for i, (rate, loss, smoothed) in enumerate(zip(finding.rates, finding.losses, finding.smoothed)):
            w.writerow([i, f"{rate:.6g}", f"{loss:.6g}", f"{smoothed:.6g}"])


def plot(finding: LrFinding, recipe: str) -> None:
    """The smoothed loss against the rate (log scale), the suggestions as vertical lines."""
    from .viz import _figure

    fig = _figure(6, 4)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(finding.rates, finding.smoothed, color="black", label="smoothed loss")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss (smoothed)")
    finite = [v for v in finding.smoothed if math.isfinite(v)]
    if finite:  # the diverged tail would squash the curve
        ax.set_ylim(min(finite) - 0.05 * abs(min(finite)), min(max(finite), DIVERGED * min(finite)) * 1.05)
    marks = [("steepest descent", finding.steepest, "tab:red"), ("minimum / 10", finding.minimum_tenth, "tab:blue")]
    for label, rate, color in marks:
        if rate is not None:
            ax.axvline(rate, color=color, linestyle="--", label=f"{label}: {rate:.2g}")
    ax.set_title(f"learning-rate range test: {recipe}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(finding.png, dpi=100)
