"""Progressive learning as EfficientNetV2 trained (Tan & Le, 2021), and CutMix/MixUp switched off late.

``train.progressive`` cuts training into equal stages; stage k of M trains on images of side S_k with
regularization R_k (dropout, RandAugment magnitude, MixUp alpha), each linear from the first stage's value
to the last's. ``start_epoch`` is the one call the engine makes at every epoch's start, a resumed one
included: every setting is a function of the epoch alone, so a resume continues mid-stage exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from torch import nn

from ..config import Config, ProgressiveConfig
from ..data.loading.loader import Loader
from ..data.augment.mixing import mixup
from ..errors import VislabError


@dataclass(frozen=True)
class Stage:
    """What one stage trains with; None: the setting is not scheduled."""

    index: int
    image_size: Optional[int] = None
    dropout: Optional[float] = None
    magnitude: Optional[int] = None
    mixup_alpha: Optional[float] = None


def stage_at(cfg: ProgressiveConfig, epoch: int, epochs: int) -> Stage:
    """The stage of 0-based ``epoch`` out of ``epochs``: stages are equal shares of the epochs."""
    index = min(cfg.stages - 1, epoch * cfg.stages // max(1, epochs))
    t = index / (cfg.stages - 1) if cfg.stages > 1 else 1.0

    def at(pair: Optional[list[float]]) -> Optional[float]:
        return None if pair is None else pair[0] + (pair[-1] - pair[0]) * t

    size, magnitude = at(cfg.image_size), at(cfg.magnitude)
    return Stage(index, None if size is None else round(size), at(cfg.dropout),
                 None if magnitude is None else round(magnitude), at(cfg.mixup_alpha))


def check(cfg: Config, model: nn.Module) -> None:
    """The schedule's values, and what it needs of the built model: bad input naming the key otherwise (before
    any run directory exists). What it needs of other features is a rule of config.combinations."""
    progressive = cfg.train.progressive
    if progressive is None:
        return
    for key in ("image_size", "dropout", "magnitude", "mixup_alpha"):
        pair = getattr(progressive, key)
        if pair is not None and len(pair) != 2:
            raise VislabError(f"train.progressive.{key} takes [first stage, last stage], got {pair}")
    bins = cfg.aug.randaugment.num_magnitude_bins if cfg.aug.randaugment is not None else 0
    if progressive.magnitude is not None and not 0 <= min(progressive.magnitude) <= max(progressive.magnitude) < bins:
        raise VislabError(f"train.progressive.magnitude={progressive.magnitude}: magnitudes go from 0 to "
                          f"aug.randaugment.num_magnitude_bins - 1 = {bins - 1}")
    if progressive.dropout is not None and not dropout_layers(model):
        raise VislabError(
            f"train.progressive.dropout: {type(model).__name__} has no dropout layer (nn.Dropout); set train.progressive.dropout=null"
        )


def dropout_layers(model: nn.Module) -> list[nn.Module]:
    """The model's dropout layers (nn.Dropout, Dropout2d, ...), whose rate a stage sets."""
    return [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


def start_epoch(cfg: Config, epoch: int, model: nn.Module, loader: Loader, streams: Sequence[Loader] = ()) -> Optional[Stage]:
    """Set up 0-based ``epoch``: CutMix/MixUp on or off (``aug.mix_off_epoch``) and the progressive stage's
    image size, dropout, RandAugment magnitude and MixUp alpha. The task's extra ``streams`` (unlabeled images)
    take the stage's image size too: a scheme joins their batches with the main one. Returns the stage, None
    without a schedule."""
    mix = loader.batch_transform
    if mix is not None and cfg.aug.mix_off_epoch is not None:
        mix.enabled = epoch + 1 < cfg.aug.mix_off_epoch  # numbered from 1, as in metrics.csv
    if cfg.train.progressive is None:
        return None
    stage = stage_at(cfg.train.progressive, epoch, cfg.train.epochs)
    if stage.dropout is not None:
        for layer in dropout_layers(model):
            layer.p = stage.dropout
    if stage.mixup_alpha is not None:
        mix.settings(mixup).alpha = stage.mixup_alpha
    loader.set_stage(stage.image_size, stage.magnitude)
    for stream in streams:
        stream.set_stage(stage.image_size, None)  # their RandAugment is the scheme's strong view, not the schedule's
    return stage
