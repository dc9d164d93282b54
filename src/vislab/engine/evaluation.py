"""Evaluation over a split: the loader for it, loss and metrics reduced over processes, and the
(outputs, batch) stream a task's artifacts are made from."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import torch
from torch import nn

from ..config import Config, TrainConfig
from ..data.bundle import DataBundle
from ..data.loading.loader import Loader
from ..errors import VislabError
from ..tasks.base import StepContext, Task
from .interrupts import interruption_point
from .layout import images_in_layout


def make_loader(
    cfg: Config, dataset: Any, fabric: Any, bundle: DataBundle, *, train: bool, sharded: bool = True,
    sampler: Optional[Callable[..., Any]] = None,
) -> Loader:
    """A Loader for one split on this process (``sampler``: see Loader)."""
    info = bundle.info
    return Loader(
        dataset,
        cfg.train.batch_size if train else (cfg.train.eval_batch_size or cfg.train.batch_size),
        device=fabric.device,
        train=train,
        seed=cfg.train.seed,
        rank=fabric.global_rank if sharded else 0,
        world_size=fabric.world_size if sharded else 1,
        num_workers=cfg.data.num_workers,
        mean=info.mean if cfg.aug.normalize else None,
        std=info.std if cfg.aug.normalize else None,
        batch_transform=bundle.batch_transform if train else None,
        limit_batches=cfg.train.limit_batches,
        sampler=sampler,
    )


@contextmanager
def out_of_memory_hint(key: str, batch_size: int) -> Iterator[None]:
    """Turn CUDA's out-of-memory error into bad input that names a batch size to try."""
    try:
        yield
    except torch.cuda.OutOfMemoryError:
        raise VislabError(
            f"out of GPU memory with {key}={batch_size}; try {key}={max(1, batch_size // 2)} "
            "(or train.precision=bf16-mixed)"
        ) from None


def evaluation_batches(loader: Loader, train: TrainConfig) -> Iterator[dict]:
    """One pass over a split's batches, each with its images in the run's layout (``train.channels_last``, as
    the model is): every evaluation batch comes through here, so no caller can forget the layout."""
    for batch in loader.epoch(0):
        interruption_point()
        batch["image"] = images_in_layout(batch["image"], train)
        yield batch


@torch.inference_mode()
def evaluate(
    model: nn.Module, loader: Loader, task: Task, fabric: Any, cfg: Config, ctx: Optional[StepContext] = None,
    each: Optional[Callable[[Any, dict], None]] = None,
) -> dict[str, float]:
    """Loss (where the task's ``validation_step`` gives one) and metrics over a split, reduced over processes
    (names without the split prefix). ``ctx``: the training context (the task's extra models) if any;
    ``each(outputs, batch)`` sees every batch's outputs (the task's ``predict``, as ``predictions`` gives them)."""
    was_training = model.training
    model.eval()
    metrics = task.metrics()
    loss_sum = torch.zeros((), dtype=torch.float64, device=fabric.device)
    count = 0
    ctx = ctx or StepContext(fabric)
    has_loss = True  # until a validation step says otherwise (an empty split still reports a loss of 0)
    with fabric.autocast(), out_of_memory_hint("train.eval_batch_size", loader.sampler.batch_size):
        for step, batch in enumerate(evaluation_batches(loader, cfg.train)):
            loss, outputs = task.validation_step(model, batch, dataclasses.replace(ctx, step=step))
            has_loss = loss is not None
            if has_loss:
                n = batch["image"].shape[0]
                loss_sum += loss.detach().double() * n
                count += n
            metrics.update(outputs, batch)
            if each is not None:
                each(outputs, batch)
    totals = fabric.all_reduce(torch.stack([loss_sum, torch.tensor(float(count), dtype=torch.float64, device=loss_sum.device)]), reduce_op="sum")
    model.train(was_training)
    loss = {"loss": float(totals[0] / max(float(totals[1]), 1.0))} if has_loss else {}
    return {**loss, **metrics.compute()}


def predictions(model: nn.Module, loader: Loader, task: Task, fabric: Any, cfg: Config) -> Iterator[tuple[Any, dict]]:
    """(outputs, batch) over a split in evaluation mode, for a task's artifacts."""
    model.eval()
    with torch.no_grad(), fabric.autocast():
        for batch in evaluation_batches(loader, cfg.train):
            yield task.predict(model, batch), batch
