"""The training loop on Lightning Fabric: ``fit`` -> ``train_one_epoch`` and ``evaluate`` (evaluation.py);
the state it keeps is in state.py.

``fit`` is the only writer of the run directory during training. It knows nothing about the kind of
work beyond the task's interface (tasks.base.Task): steps, hooks, extra models and streams, metrics, finalize.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from torch import nn

from ..atomic import remove_leftovers
from ..config import Config, to_dict
from ..data.bundle import DataBundle
from ..data.loading.loader import Loader
from ..errors import VislabError
from ..meta import git_commit, versions
from ..progress import EpochProgress
from ..runs import Run
from ..tasks.base import StepContext, Task
from .averaging import WeightAverage, reestimate_batchnorm
from .checkpoint import rng_state, save_checkpoint, set_rng_state
from .ema import ModelEMA
from .evaluation import evaluate, make_loader, out_of_memory_hint, predictions
from .hardware import cpu_threads, describe_device, resolve_precision
from .sample_records import RecordRows, drain
from .interrupts import Interrupted, deferred_interrupts, interruption_point
from .layout import images_in_layout, model_in_layout
from .optim import build_optimizer, build_scheduler
from .progressive import start_epoch
from .recorder import Recorder
from .state import EpochAccumulators, TrainState
from .streams import StreamCursor, stream_cursors
from .weights import load_weights, unwrap


class TrainingDiverged(VislabError):
    """The loss became NaN or infinite (bad hyperparameters, usually: exit code 2)."""


@dataclass
class Session:
    """Everything one training run's functions share, instead of threading a dozen arguments."""

    cfg: Config
    fabric: Any
    model: Any
    optimizer: Any
    scheduler: Any
    task: Task
    run: Optional[Run]  # None until ``fit_prepared`` is given the run directory
    state: TrainState
    recorder: Optional[Recorder]  # made with the run
    progress: EpochProgress
    monitor: str
    mode: str
    extra_models: dict[str, nn.Module]  # the task's, on the device
    streams: dict[str, StreamCursor]  # the task's extra training streams
    ema: Optional[ModelEMA]  # train.ema
    average: Optional[WeightAverage]  # train.average_last
    epoch_metrics: Any = None  # the training metrics of the epoch in progress
    recorded: Optional[dict] = None  # progress as of the last checkpoint and metrics.csv row both on disk
    threads: Any = None  # the CPU thread planner (vislab.threads.ThreadPlanner); None on accelerators
    bundle: Optional[DataBundle] = None
    loaders: tuple[Loader, ...] = ()  # training, validation
    resume: Optional[dict] = None  # the checkpoint training continues from

    def context(self) -> StepContext:
        """The StepContext of the step about to run."""
        st = self.state
        return StepContext(self.fabric, st.epoch, st.step, st.global_step, self.extra_models, epoch_batches=len(self.loaders[0]))

    def evaluated(self) -> nn.Module:
        """The weights validation judges: the task's evaluated extra model (Mean Teacher's teacher), else the model."""
        name = self.task.evaluated_model
        return self.extra_models[name] if name else self.model



def monitor_of(cfg: Config, task: Task) -> tuple[str, str]:
    """The metric that picks best.pt, and whether it should go up (max) or down (min). With model EMA on,
    the EMA weights' metric by default, as timm keeps its best checkpoint by them."""
    ema = cfg.train.ema.decay is not None
    monitor = cfg.train.monitor or (f"val_ema_{task.monitor}" if ema else f"val_{task.monitor}")
    if monitor.startswith("val_ema_") and not ema:
        raise VislabError(f"train.monitor={monitor} names the EMA weights' metric; set train.ema.decay (e.g. 0.999) or monitor val_{monitor[8:]}")
    if cfg.train.mode != "auto":
        return monitor, cfg.train.mode
    if monitor in (f"val_{task.monitor}", f"val_ema_{task.monitor}"):
        return monitor, task.mode
    return monitor, "min" if monitor.endswith("loss") else "max"


# ------------------------------------------------------------------------------------------------
# fit
# ------------------------------------------------------------------------------------------------


def fit(
    cfg: Config,
    bundle: DataBundle,
    model: nn.Module,
    task: Task,
    run: Run,
    fabric: Any,
    resume: Optional[dict] = None,
    on_epoch: Optional[Callable[[dict[str, Any]], Optional[str]]] = None,
) -> dict[str, Any]:
    """Train, keep last.pt and best.pt, evaluate the best weights on the test split, write artifacts.

    ``resume`` is a checkpoint dict; training continues from its epoch and step. ``on_epoch`` (called on
    every process with each new metrics.csv row) may end training early by returning a status, such as
    a sweep's "pruned", which summary.json then carries instead of "completed". Returns summary.json.
    """
    return fit_prepared(prepare(cfg, bundle, model, task, fabric, resume), run, on_epoch)


def prepare(cfg: Config, bundle: DataBundle, model: nn.Module, task: Task, fabric: Any, resume: Optional[dict] = None) -> Session:
    """Everything ``fit`` sets up before it writes (weights and state from ``resume``, optimizer, loaders,
    schedule, monitored metric, the task's streams), so that the bad input it would meet is raised before
    the caller makes a run directory; ``fit_prepared`` then trains the Session into one."""
    extra_models = {name: fabric.to_device(m) for name, m in task.extra_models(model).items()}
    ema = ModelEMA(model, cfg.train.ema) if cfg.train.ema.decay is not None else None
    average = WeightAverage(cfg.train.average_last, cfg.train.epochs, fabric.device) if cfg.train.average_last else None
    if ema is not None:
        ema.module = fabric.to_device(ema.module)
    model = model_in_layout(model, cfg.train)
    if cfg.train.compile:
        model = torch.compile(model)
    optimizer = build_optimizer(cfg.optim, model)
    model, optimizer = fabric.setup(model, optimizer)
    train_loader = make_loader(cfg, bundle.train, fabric, bundle, train=True, sampler=task.train_sampler(bundle))
    val_loader = make_loader(cfg, bundle.val, fabric, bundle, train=False)
    if len(train_loader) == 0:
        raise VislabError(f"dataset {cfg.data.name}: the training split is empty")
    scheduler = build_scheduler(cfg.sched, optimizer, optimizer_steps(len(train_loader), cfg.train.accumulate), cfg.train.epochs)
    monitor, mode = monitor_of(cfg, task)
    s = Session(
        cfg, fabric, model, optimizer, scheduler, task, None, TrainState(), None,
        EpochProgress(cfg.train.progress and fabric.is_global_zero, cfg.train.epochs, monitor),
        monitor, mode, extra_models, stream_cursors(cfg, task.extra_streams(bundle), fabric, bundle), ema, average,
        threads=cpu_threads(cfg.train, fabric), bundle=bundle, loaders=(train_loader, val_loader),
    )
    if resume is not None:
        restore(s, resume)
    return s


def restore(s: Session, checkpoint: dict) -> None:
    """Continue the Session from ``checkpoint`` (a last.pt): where training stands, the model's weights, the task's
    extra models, the EMA and the weight average, the optimizer, scheduler and grad scaler. What does not fit is
    bad input, raised here, before anything in the run directory changes; the run directory's side and the random
    generators follow when training starts (``reopen``)."""
    s.resume = checkpoint
    s.state = TrainState.from_checkpoint(checkpoint["state"])
    load_weights(unwrap(s.model), checkpoint["model"], "the checkpoint")
    load_extra_models(s.extra_models, checkpoint)
    load_averages(s.ema, s.average, checkpoint)
    load_training_state(s.fabric, s.optimizer, s.scheduler, checkpoint)


def reopen(s: Session) -> None:
    """A resumed run's directory as its checkpoint left it: the files a kill cut short removed, metrics.csv and
    TensorBoard rewritten up to the checkpoint; then the random generators, last, so that nothing before the
    first step draws from them."""
    if s.fabric.is_global_zero:
        for folder in (s.run.dir, s.run.checkpoint_path().parent):
            remove_leftovers(folder)
    if s.state.history:
        s.recorder.log_epoch(s.state.history)
    set_rng_state(s.resume["rng"])


def fit_prepared(s: Session, run: Run, on_epoch: Optional[Callable[[dict[str, Any]], Optional[str]]] = None) -> dict[str, Any]:
    """Train a prepared Session into ``run`` (see ``fit``); returns summary.json."""
    cfg, fabric, state, resumed = s.cfg, s.fabric, s.state, s.resume is not None
    s.run = run
    # TensorBoard steps are epochs: drop what a killed run logged after its checkpoint.
    s.recorder = Recorder(run, fabric.is_global_zero, purge_step=state.epoch if resumed else None)
    s.recorded = progress_fields(s)
    s.recorder.summary(**start_summary(s, s.bundle, resumed=resumed))
    if resumed:
        reopen(s)
    finishing = False
    with deferred_interrupts(fabric.world_size == 1):
        try:
            stopped = None
            while stopped is None and state.epoch < cfg.train.epochs and not early_stopped(s):
                run_epoch(s, *s.loaders)
                stopped = on_epoch(state.history[-1]) if on_epoch is not None else None
            finishing = True  # last.pt is complete, and finish() puts best.pt's weights in the model
            summary = finish(s, s.bundle, stopped or "completed")
        except KeyboardInterrupt as e:
            if isinstance(e, Interrupted) and not finishing:
                save(s, "last")  # taken at a step boundary, so the resume is exact
            s.recorder.summary(status="interrupted", **s.recorded, best_effort=True)
            raise Interrupted(resume_hint(s)) from None
        except BaseException as e:
            error = f"{type(e).__name__}: {e}".splitlines()[0]
            s.recorder.summary(status="failed", error=error, **s.recorded, best_effort=True)  # never ahead of last.pt
            raise
        finally:
            s.progress.close()
            s.recorder.close()
    return summary


def load_training_state(fabric: Any, optimizer: Any, scheduler: Any, checkpoint: dict) -> None:
    """Optimizer, scheduler and grad-scaler state from a checkpoint; a mismatch is bad input."""
    try:
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
    except (ValueError, KeyError, RuntimeError) as e:
        raise VislabError(
            f"the checkpoint's optimizer state does not fit optim.*/sched.* of this run ({str(e).splitlines()[0]}); "
            "resume with the settings it was trained with"
        ) from None
    scaler = getattr(fabric.strategy.precision, "scaler", None)
    if scaler is not None and checkpoint.get("scaler"):
        scaler.load_state_dict(checkpoint["scaler"])


def optimizer_step(s: Session, model: nn.Module, ctx: StepContext) -> None:
    """Clip, step, clear the gradients, update the EMA, then the task's hook."""
    if s.cfg.train.grad_clip:
        s.fabric.clip_gradients(model, s.optimizer, max_norm=s.cfg.train.grad_clip)
    s.optimizer.step()
    s.optimizer.zero_grad(set_to_none=True)
    if s.ema is not None:
        s.ema.update(unwrap(model))
    s.task.after_optimizer_step(model, ctx)


def load_extra_models(models: dict[str, nn.Module], checkpoint: dict) -> None:
    """The task's extra models as the checkpoint holds them; one missing is bad input."""
    saved = checkpoint.get("extra_models", {})
    for name, m in models.items():
        if name not in saved:
            raise VislabError(f"the checkpoint holds no state of the task's extra model '{name}'; resume with the task it was trained with")
        load_weights(m, saved[name], f"the checkpoint's extra model '{name}'")


def load_averages(ema: Optional[ModelEMA], average: Optional[WeightAverage], checkpoint: dict) -> None:
    """The EMA and the weight average as the checkpoint holds them; one missing is bad input."""
    for name, obj, key in (("EMA", ema, "ema"), ("weight average", average, "average")):
        if obj is None:
            continue
        if not checkpoint.get(key):
            setting = "train.ema.decay" if key == "ema" else "train.average_last"
            raise VislabError(f"the checkpoint holds no {name}: it was trained without {setting}; resume with the settings it was trained with")
        obj.load_state_dict(checkpoint[key])


def optimizer_steps(batches: int, accumulate: int) -> int:
    """Optimizer steps in an epoch of ``batches`` (a last, shorter group of batches steps too)."""
    return -(-batches // accumulate)


def resume_hint(s: Session) -> str:
    """What the user can do after an interruption."""
    if s.run.checkpoint_path("last").is_file():
        return f"resume with: vislab train --resume {s.run.dir}"
    return "no checkpoint was written yet"


def run_epoch(s: Session, train_loader: Loader, val_loader: Loader) -> None:
    """One epoch: train, validate, record a metrics.csv row, checkpoint."""
    started = time.perf_counter()
    if s.threads is not None:
        s.threads.recheck()  # the load may have changed since the last epoch
    lr = s.optimizer.param_groups[0]["lr"]
    with out_of_memory_hint("train.batch_size", s.cfg.train.batch_size):
        train = train_one_epoch(s, train_loader, lr)
    lr = train["lr"]
    val = evaluate(s.evaluated(), val_loader, s.task, s.fabric, s.cfg, s.context())
    st = s.state
    st.wall_seconds += time.perf_counter() - started
    row = {"epoch": st.epoch + 1, "lr": lr, **{f"train_{k}": v for k, v in train["metrics"].items()}}
    row.update({f"val_{k}": v for k, v in val.items()})
    if s.ema is not None:
        ema_val = evaluate(s.ema.module, val_loader, s.task, s.fabric, s.cfg, s.context())
        row.update({f"val_ema_{k}": v for k, v in ema_val.items()})
    if s.average is not None:
        s.average.add(unwrap(s.model), st.epoch + 1)
    row["seconds"] = train["seconds"] + (time.perf_counter() - started - train["wall"])
    row["images_per_s"] = train["images"] / max(train["seconds"], 1e-9)
    if s.monitor not in row:
        names = ", ".join(k for k in row if k not in ("epoch", "lr", "seconds", "images_per_s"))
        raise VislabError(f"train.monitor='{s.monitor}' is not a metric of this run; choose one of {names}")
    value = row[s.monitor]
    improved = st.best_value is None or (value > st.best_value if s.mode == "max" else value < st.best_value)
    if improved:
        st.best_value, st.best_epoch, st.bad_epochs = float(value), st.epoch + 1, 0
    else:
        st.bad_epochs += 1
    st.history.append(row)
    st.epoch, st.step, st.partial = st.epoch + 1, 0, None
    save(s, "last", also_best=improved)
    s.recorder.log_epoch(st.history)
    s.recorded = progress_fields(s)
    s.recorder.summary(status="running", **s.recorded)
    s.progress.end(row)


def early_stopped(s: Session) -> bool:
    patience = s.cfg.train.patience
    return patience is not None and s.state.bad_epochs >= patience


def train_one_epoch(s: Session, loader: Loader, lr: float) -> dict[str, Any]:
    """Train over the epoch's remaining batches; returns loss and metrics reduced over processes.

    The epoch's accumulators live in ``s.state.partial`` so that a checkpoint taken at any step
    (every ``train.checkpoint_every_steps``, or on Ctrl-C) resumes the epoch exactly.
    """
    cfg, fabric, model, task, st = s.cfg, s.fabric, s.model, s.task, s.state
    model.train()
    streams = [cursor.loader for cursor in s.streams.values()]
    start_epoch(cfg, st.epoch, model, loader, streams)  # a function of the epoch alone: a resume sets the same stage
    s.epoch_metrics = metrics = task.metrics(train=True)
    partial = st.partial or EpochAccumulators(torch.zeros((), dtype=torch.float64), lr=lr)
    if partial.metrics is not None:
        metrics.load_state_dict(partial.metrics)
    partial.loss_sum, partial.metrics = partial.loss_sum.to(fabric.device), None
    st.partial = partial
    seconds_before = partial.seconds
    check_every = 1 if fabric.device.type == "cpu" or cfg.train.nan_policy == "skip_batch" else 25
    accumulate, batches = cfg.train.accumulate, len(loader)
    stepped = False  # whether a batch of the current accumulation group reached backward
    every = cfg.train.checkpoint_every_steps
    s.progress.start(st.epoch, len(loader), st.step)
    task.on_train_epoch_start(model, s.context())
    started = time.perf_counter()
    for step, batch in enumerate(loader.epoch(st.epoch, st.step), start=st.step):
        ctx = s.context()
        ctx.batches = {name: cursor.batch_at(st.global_step) for name, cursor in s.streams.items()}
        for b in (batch, *ctx.batches.values()):
            b["image"] = images_in_layout(b["image"], cfg.train)
        group_end = (step + 1) % accumulate == 0 or step + 1 == batches
        # DDP: gradients are reduced across processes only on the batch that steps the optimizer.
        with fabric.no_backward_sync(model, enabled=not group_end):
            loss, outputs = task.training_step(model, batch, ctx)
            checked = (step + 1) % check_every == 0 or step + 1 == batches
            if checked and not math.isfinite(loss_value := float(loss.detach())):
                if cfg.train.nan_policy == "stop":
                    raise diverged(s, f"the loss became {loss_value} at epoch {st.epoch + 1}, step {step + 1}")
                st.skipped_batches += 1
            else:
                group_size = min(accumulate, batches - step // accumulate * accumulate)  # the last group may be short
                fabric.backward(loss / group_size if group_size > 1 else loss)
                stepped = True
                n = batch["image"].shape[0]
                partial.loss_sum += loss.detach().double() * n
                partial.count += n
                metrics.update(outputs, batch)
        if group_end:
            if stepped:
                optimizer_step(s, model, ctx)
            stepped = False
            s.scheduler.step()
        st.step, st.global_step = step + 1, st.global_step + 1
        partial.seconds = seconds_before + time.perf_counter() - started
        if checked and s.progress.due(st.step):
            s.progress.update(st.step, {"loss": loss_value, **metrics.peek(), "img/s": partial.count * fabric.world_size / max(partial.seconds, 1e-9)})
        if group_end:  # accumulated gradients are not checkpointed: stop and save only between groups
            if every and st.global_step % every == 0 and st.step < batches:
                save(s, "last")
            interruption_point()
    task.on_train_epoch_end(model, s.context())
    wall = time.perf_counter() - started
    seconds = seconds_before + wall
    count = torch.tensor(float(partial.count), dtype=torch.float64, device=fabric.device)
    totals = fabric.all_reduce(torch.stack([partial.loss_sum, count]), reduce_op="sum")
    images = int(totals[1])
    st.train_seconds += seconds
    st.train_images += images
    result = {"loss": float(totals[0] / max(images, 1)), **(metrics.compute() if images else {})}
    return {"metrics": result, "seconds": seconds, "wall": wall, "images": images, "lr": partial.lr}


# ------------------------------------------------------------------------------------------------
# checkpoints and summary
# ------------------------------------------------------------------------------------------------


def weights_state(s: Session) -> dict[str, Any]:
    """What best.pt holds: what evaluation, export, predict, explain and distillation read (the weights, the
    task's extra models and which of them is evaluated, the EMA, where training stood, the config); no
    optimizer, schedule or generators, which only a resume needs and resumes read last.pt."""
    state = dataclasses.asdict(s.state)
    if state["partial"] is not None:
        state["partial"]["loss_sum"] = state["partial"]["loss_sum"].cpu()
        state["partial"]["metrics"] = {k: v.cpu() for k, v in s.epoch_metrics.state_dict().items()}
    return {
        "model": unwrap(s.model).state_dict(),
        "extra_models": {name: m.state_dict() for name, m in s.extra_models.items()},
        "evaluated_model": s.task.evaluated_model,
        "ema": s.ema.state_dict() if s.ema is not None else None,
        "state": state,
        "config": to_dict(s.cfg),
    }


def checkpoint_state(s: Session) -> dict[str, Any]:
    """What last.pt holds: ``weights_state`` and everything a resume continues from exactly."""
    scaler = getattr(s.fabric.strategy.precision, "scaler", None)
    return {
        **weights_state(s),
        "average": s.average.state_dict() if s.average is not None else None,
        "optimizer": s.optimizer.state_dict(),
        "scheduler": s.scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": rng_state(),
    }


def save(s: Session, which: str, also_best: bool = False) -> None:
    """Write checkpoints/<which>.pt on rank 0 (atomically), best.pt first when the epoch improved.

    Weights that are no longer finite are never saved, so the checkpoint on disk stays the last good one.
    Best before last: a kill between the two leaves last.pt behind best.pt, and the resumed run
    recomputes the same epoch and writes the same best.pt again.
    """
    weights = [v for v in unwrap(s.model).state_dict().values() if v.is_floating_point()]
    if not bool(torch.stack([torch.isfinite(v).all() for v in weights]).all()):
        raise diverged(s, f"the weights became NaN or infinite after {s.state.global_step} steps")
    if not s.fabric.is_global_zero:
        return
    if also_best:
        save_checkpoint(s.run.checkpoint_path("best"), weights_state(s))
    save_checkpoint(s.run.checkpoint_path(which), checkpoint_state(s))


def diverged(s: Session, what: str) -> TrainingDiverged:
    """The error that stops a run whose loss or weights stopped being finite, naming what is kept."""
    last = s.run.checkpoint_path("last")
    kept = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint was written"
    return TrainingDiverged(f"{what}; lower optim.lr or set train.grad_clip ({kept})")


def start_summary(s: Session, bundle: DataBundle, resumed: bool) -> dict[str, Any]:
    fields = {
        "status": "running",
        "recipe": s.cfg.recipe,
        "task": s.task.name,
        "best_metric": s.monitor,
        "mode": s.mode,
        "seed": s.cfg.train.seed,
        "device": describe_device(s.fabric),
        "world_size": s.fabric.world_size,
        "precision": resolve_precision(s.cfg.train),
        "versions": versions(),
        "git_commit": git_commit(),
        "train_size": len(bundle.train),
        "val_size": len(bundle.val),
        "test_size": len(bundle.test) if bundle.test is not None else 0,
    }
    if resumed:
        fields["resumed_from_epoch"] = s.state.epoch + 1
        fields["error"] = None
    return fields


def progress_fields(s: Session) -> dict[str, Any]:
    st = s.state
    last = st.history[-1] if st.history else {}
    return {
        "epochs_completed": len(st.history),
        "best_value": st.best_value,
        "best_epoch": st.best_epoch,
        "metrics": {k: v for k, v in last.items() if k not in ("epoch", "lr", "seconds", "images_per_s")},
        "wall_s": round(st.wall_seconds, 3),
        "train_images_per_s": round(st.train_images / st.train_seconds, 1) if st.train_seconds else None,
        "skipped_batches": st.skipped_batches,
    }


def finish_average(s: Session, bundle: DataBundle) -> dict[str, float]:
    """checkpoints/averaged.pt: the mean of the last train.average_last epochs' weights with BatchNorm statistics
    re-estimated over an epoch of training batches; returns its metrics as averaged_val_* (and averaged_test_*)."""
    if s.average is None or not s.average.epochs:
        return {}
    cfg, fabric = s.cfg, s.fabric
    model = s.average.averaged(unwrap(s.model))
    train_loader = make_loader(cfg, bundle.train, fabric, bundle, train=True, sampler=s.task.train_sampler(bundle))
    with fabric.autocast():
        batches = reestimate_batchnorm(model, train_loader.epoch(s.state.epoch), s.task.forward)
    if fabric.is_global_zero:
        save_checkpoint(s.run.checkpoint_path("averaged"), {
            "model": model.state_dict(), "config": to_dict(cfg), "averaged_epochs": s.average.epochs,
            "batchnorm_batches": batches,
        })
    splits = {"val": bundle.val, "test": bundle.test if bundle.test is not None and len(bundle.test) else None}
    metrics = {}
    for split, dataset in splits.items():
        if dataset is not None:
            loader = make_loader(cfg, dataset, fabric, bundle, train=False)
            values = evaluate(model, loader, s.task, fabric, cfg, s.context())
            metrics.update({f"averaged_{split}_{k}": v for k, v in values.items()})
    return metrics


def finish(s: Session, bundle: DataBundle, status: str = "completed") -> dict[str, Any]:
    """The averaged weights (train.average_last) evaluated, then best.pt's evaluated weights back in (its EMA
    weights when the monitor is an EMA metric; see evaluated_weights), test metrics, artifacts on rank 0,
    summary status ``status``."""
    cfg, fabric = s.cfg, s.fabric
    best = s.run.checkpoint_path("best")
    fabric.barrier()
    averaged = finish_average(s, bundle)
    fields = progress_fields(s)
    if best.is_file():
        from .checkpoint import evaluated_weights, load_checkpoint

        checkpoint = load_checkpoint(best)
        use_ema = s.monitor.startswith("val_ema_")
        unwrap(s.model).load_state_dict(checkpoint["ema"]["weights"] if use_ema else evaluated_weights(checkpoint))
        fields["best_weights"] = "ema" if use_ema else s.task.evaluated_model or "raw"
    fields["metrics"].update(averaged)
    whole = fabric.world_size == 1  # this process's share of a split is all of it: one pass makes metrics and records
    test_rows = RecordRows(s.task)
    if bundle.test is not None and len(bundle.test):
        test_loader = make_loader(cfg, bundle.test, fabric, bundle, train=False)
        test = evaluate(s.model, test_loader, s.task, fabric, cfg, s.context(), each=test_rows if whole else None)
        fields["metrics"].update({f"test_{k}": v for k, v in test.items()})
        fields["test_checkpoint"] = "best"
    if fabric.is_global_zero:
        fields.update(finish_artifacts(s, bundle, test_rows if "test_checkpoint" in fields else None, whole))
    s.recorder.summary(status=status, **fields)
    fabric.barrier()
    return s.run.summary


def finish_artifacts(s: Session, bundle: DataBundle, test_rows: Optional[RecordRows], whole: bool) -> dict[str, Any]:
    """On rank 0, with best.pt's weights in the model: the task's artifacts and records/val.npz from one pass
    over the validation split, and records/test.npz from the test rows the test evaluation gathered (a pass
    of their own only when that evaluation saw a shard of the split); returns the task's summary additions."""
    cfg, fabric = s.cfg, s.fabric
    val_rows = RecordRows(s.task)
    val_all = make_loader(cfg, bundle.val, fabric, bundle, train=False, sharded=False)
    pairs = val_rows.passing(predictions(unwrap(s.model), val_all, s.task, fabric, cfg))
    extra = s.task.finalize(s.run.artifacts, pairs, bundle, unwrap(s.model)) or {}
    drain(pairs)
    val_rows.write(s.run.dir, "val")
    if test_rows is not None:
        if not whole:
            test_all = make_loader(cfg, bundle.test, fabric, bundle, train=False, sharded=False)
            drain(test_rows.passing(predictions(unwrap(s.model), test_all, s.task, fabric, cfg)))
        test_rows.write(s.run.dir, "test")
    return extra
