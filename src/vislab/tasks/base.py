"""What one kind of work computes. The engine knows nothing of classification or segmentation beyond this."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Protocol, Sequence

import torch
from torch import nn

from ..data.bundle import DataBundle, DataInfo
from ..errors import VislabError

if TYPE_CHECKING:
    from ..config import Config


class Metrics(Protocol):
    """An accumulator over batches; ``compute`` reduces over processes (vislab.metric.Metric)."""

    def update(self, outputs: Any, batch: dict) -> None: ...

    def compute(self) -> dict[str, float]: ...

    def peek(self) -> dict[str, float]:
        """This process's running values without synchronizing processes (for the progress bar)."""
        ...

    def reset(self) -> None: ...

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The accumulated states (for a mid-epoch checkpoint)."""
        ...

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None: ...


@dataclass
class Stream:
    """An extra training stream a task declares (``Task.extra_streams``): one batch of ``dataset`` per training
    step, beside the main batch. ``batch_transform(batch, generator) -> batch`` augments a batch on the
    device (as ``DataBundle.batch_transform``); None: the dataset's own per-sample augmentation only."""

    dataset: Any
    batch_size: int
    batch_transform: Optional[Callable[[dict, torch.Generator], dict]] = None


@dataclass
class StepContext:
    """What a step and a hook see besides the model and the batch.

    ``epoch`` (0-based) and ``step`` (the batch within it) locate the step; ``global_step`` counts the
    training batches before this one over the whole run; ``epoch_batches`` is the number of training batches
    in an epoch, as the training loader cuts them (its sampler and ``train.limit_batches`` included). ``models`` holds the task's extra models (see
    ``Task.extra_models``) on the training device; ``batches`` this step's batch of each extra stream
    (empty in validation). ``fabric`` is Lightning Fabric's object (device, world size, all_reduce).
    """

    fabric: Any
    epoch: int = 0
    step: int = 0
    global_step: int = 0
    models: dict[str, nn.Module] = field(default_factory=dict)
    batches: dict[str, dict] = field(default_factory=dict)
    epoch_batches: int = 0


class Task:
    """Steps, loss, metrics and end-of-run artifacts for one kind of work.

    ``name``: the ``task.name`` that selects it. ``monitor``/``mode``: the default metric (without split
    prefix) that picks the best checkpoint. Metric names carry no split prefix; the engine adds
    ``train_``, ``val_`` and ``test_``.

    The engine owns devices, precision, the NaN policy, gradient clipping, checkpoints, interrupts,
    progress and metrics.csv; a task owns what one step computes (``training_step``,
    ``validation_step``) and may act in the hooks (``on_train_epoch_start``, ``after_optimizer_step``,
    ``on_train_epoch_end``). Every hook has a default here, so a task overrides only what it needs.

    Extra models and streams. ``extra_models`` names models besides the trained one (an EMA copy, a
    teacher); the engine moves them to the device, checkpoints their state dicts and restores them on
    resume; it does not optimize them (a hook updates them). ``extra_streams`` names further training
    data (an unlabeled set); the engine shards each across processes and hands one batch of each per
    training step in ``ctx.batches``. A stream's order and augmentation are drawn from (seed, stream,
    epoch, index) like the main stream's, its epochs roll over independently of the main one, and the
    batch at a global step is rebuilt from the checkpoint's step alone, so a resume is exact. A tiny
    mean-teacher::

        class MeanTeacher(ClassificationTask):
            def extra_models(self, model):
                return {"teacher": copy.deepcopy(model).requires_grad_(False)}

            def extra_streams(self, bundle):
                return {"unlabeled": Stream(bundle.train, batch_size=64)}

            def training_step(self, model, batch, ctx):
                loss, outputs = super().training_step(model, batch, ctx)
                x = ctx.batches["unlabeled"]["image"]
                with torch.no_grad():
                    target = ctx.models["teacher"](x).softmax(1)
                return loss + F.mse_loss(model(x).softmax(1), target), outputs

            def after_optimizer_step(self, model, ctx):
                for t, s in zip(ctx.models["teacher"].parameters(), model.parameters()):
                    t.lerp_(s.detach(), 0.001)
    """

    name: str = "task"
    # What kind of work this is, declared once here; other code asks these and never compares task names.
    per_pixel: bool = False  # targets and outputs are per pixel [B, H, W] (dense), not per image [B]
    domains: bool = False  # batches carry "domain" [B] and metrics are reported per domain
    panoptic: bool = False  # learns instance centers and offsets beside the classes (`vislab eval --export-panoptic`)
    monitor: str = "loss"
    mode: str = "min"
    # The loss.* and eval.* keys the task reads, by section; any other set is refused (reads.check_reads).
    reads: dict[str, tuple[str, ...]] = {}

    # The extra model (a name in ``extra_models``) that validation, best.pt's pick, test metrics and inference
    # use in place of the trained weights, as Mean Teacher's teacher is; None: the trained weights themselves.
    evaluated_model: Optional[str] = None

    # -- the model and what trains beside it --------------------------------------------------------

    def build_model(self, cfg: "Config", info: DataInfo) -> nn.Module:
        """The model this task trains: ``model.name`` from the registry, sized for ``info``."""
        from ..models import build

        return build(cfg.model, info)

    def extra_models(self, model: nn.Module) -> dict[str, nn.Module]:
        """Models besides ``model`` (the trained one, weights loaded), by name; see the class docstring."""
        return {}

    def extra_streams(self, bundle: DataBundle) -> dict[str, Stream]:
        """Training streams besides ``bundle.train``, by name; see the class docstring."""
        return {}

    # -- steps -------------------------------------------------------------------------------------

    def training_step(self, model: nn.Module, batch: dict, ctx: StepContext) -> tuple[torch.Tensor, Any]:
        """(loss [] to minimize, outputs for the training metrics) for one training batch."""
        outputs = self.forward(model, batch)
        return self.loss(outputs, batch), outputs

    def validation_step(self, model: nn.Module, batch: dict, ctx: StepContext) -> tuple[Optional[torch.Tensor], Any]:
        """(loss [] or None where the task has none, outputs for the metrics) for one evaluation batch."""
        outputs = self.predict(model, batch)
        return self.loss(outputs, batch), outputs

    def on_train_epoch_start(self, model: nn.Module, ctx: StepContext) -> None:
        """Called when a training epoch starts, or resumes at ``ctx.step``."""

    def after_optimizer_step(self, model: nn.Module, ctx: StepContext) -> None:
        """Called after each optimizer step (not after a batch skipped for a NaN loss)."""

    def on_train_epoch_end(self, model: nn.Module, ctx: StepContext) -> None:
        """Called after an epoch's last training batch, before validation."""

    # -- building blocks of the default steps -------------------------------------------------------

    def forward(self, model: nn.Module, batch: dict) -> Any:
        """Model outputs for a training batch."""
        return model(batch["image"])

    def predict(self, model: nn.Module, batch: dict) -> Any:
        """Model outputs for an evaluation batch (whole images, sliding windows, ...)."""
        return self.forward(model, batch)

    def loss(self, outputs: Any, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def metrics(self, train: bool = False) -> Metrics:
        """A fresh accumulator; ``train=True`` asks for the cheap ones shown while training."""
        raise NotImplementedError

    def train_sampler(self, bundle: DataBundle) -> Optional[Callable[..., Any]]:
        """The training batch sampler, called like data.sampling.EpochBatchSampler, for tasks whose
        batches must be arranged; by default the one ``data.sampler`` chose (None: the seeded shuffle)."""
        return bundle.train_sampler

    def sample_records(self, outputs: Any, batch: dict) -> dict[str, torch.Tensor]:
        """Per-image rows of an evaluated batch for records/<split>.npz (each [B, ...]; see vislab.records),
        with the batch's ``index``; an empty dict keeps no records."""
        return {}

    # -- after training ----------------------------------------------------------------------------

    def finalize(self, artifacts_dir: Path, predictions: Iterable[tuple[Any, dict]], bundle: DataBundle,
                 model: nn.Module) -> dict:
        """Write artifacts from (outputs, batch) pairs over the validation split of ``model`` (whose maps the
        galleries show under ``eval.explain``); return summary additions."""
        return {}

    def class_logits(self, outputs: Any) -> torch.Tensor:
        """The class logits [B, C] among a model's outputs, for per-image tasks (ensembles vote with them, and
        predictor.ClassPredictor ranks them)."""
        raise VislabError(f"{self.name} runs have no class logits to vote with")

    def pixel_logits(self, outputs: Any) -> torch.Tensor:
        """The per-pixel class logits [B, K, H, W] among a model's outputs, for per-pixel tasks (crossval's
        out-of-fold predictions read them)."""
        raise VislabError(f"{self.name} runs have no per-pixel class logits")

    def eval_settings(self) -> dict:
        """How evaluation ran beyond the checkpoint (test-time augmentation, post-processing), as the eval JSON
        records it."""
        return {}

    def export_panoptic(self, out: Path, predictions: Iterable[tuple[Any, dict]]) -> list[Path]:
        """Write the panoptic predictions and ground truth of (outputs, batch) pairs in COCO panoptic format."""
        raise NotImplementedError


def refuse_unused(cfg: Any, keys: Sequence[str], what: str) -> None:
    """Bad input when any of ``keys`` (dotted) differs from its default: they do nothing for ``what``."""
    from ..config import Config, flatten

    given, default = flatten(cfg), flatten(Config())
    for key in keys:
        if given[key] != default[key]:
            raise VislabError(f"config key '{key}' does nothing for {what}; remove it")
