"""One training step of each scheme, for any task whose model gives class logits per image [B, K] or per
pixel [B, K, H, W]: the labeled batch and the unlabeled views go through the model together (one forward,
so BatchNorm sees both, as FixMatch's reference does), then the outputs are split.

``forward(parts) -> outputs per part`` runs the task's forward on batches (dicts) joined into one;
``logits(outputs) -> tensor`` picks the class logits; the labeled part of the outputs goes back to the
task for its own loss and metrics.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..config import Config
from ..data.bundle import DataInfo
from .cutmix import cutmix_boxes, from_partner, mixed_labels
from .losses import fixmatch_loss, masked_cross_entropy, pseudo_labels, sigmoid_rampup, soft_cross_entropy, softmax_mse
from .strong import strong_view
from .teacher import stats

Forward = Callable[[list[dict]], list[Any]]
Logits = Callable[[Any], torch.Tensor]
_LABELS = ("target", "index", "size")  # not model inputs: never joined


def join(parts: list[dict]) -> dict:
    """Batches as one: the per-sample model inputs every part has (``image``, a domain id ...) concatenated."""
    sizes = [p["image"].shape[0] for p in parts]
    keys = [k for k, v in parts[0].items() if k not in _LABELS and torch.is_tensor(v) and v.ndim and v.shape[0] == sizes[0]
            and all(k in p and torch.is_tensor(p[k]) and p[k].shape[0] == n for p, n in zip(parts, sizes))]
    return {k: torch.cat([p[k] for p in parts]) for k in keys}


def split_outputs(outputs: Any, sizes: list[int]) -> list[Any]:
    """Model outputs of a joined batch (a tensor, or a dict of tensors) cut into ``sizes`` parts; dict
    entries that are not per sample are given to every part."""
    total = sum(sizes)
    if isinstance(outputs, dict):
        parts = {k: torch.split(v, sizes) if torch.is_tensor(v) and v.ndim and v.shape[0] == total else [v] * len(sizes)
                 for k, v in outputs.items()}
        return [{k: p[i] for k, p in parts.items()} for i in range(len(sizes))]
    return list(torch.split(outputs, sizes))


def valid_pixels(unlabeled: dict, ignore_index: int) -> torch.Tensor:
    """bool [B, H, W]: the unlabeled images' own pixels. Their hidden target marks them (data.labeled.hidden_target)
    and every padding, a crop's (``pad_if_needed``) or the collate's, fills it with the ignore index."""
    return unlabeled["target"] != ignore_index


class Scheme:
    """What the schemes share: the strong view (photometric only for per-pixel tasks, so pseudo-labels stay
    aligned) made with the data's normalization undone and redone. ``per_pixel``: the task's declaration
    (``Task.per_pixel``), the one thing that decides per-image or per-pixel consistency."""

    def __init__(self, cfg: Config, info: DataInfo, per_pixel: bool) -> None:
        self.semisup = cfg.semisup
        self.per_pixel = per_pixel
        self.ignore_index = info.ignore_index
        normalized = cfg.aug.normalize
        self.mean = stats(info.mean if normalized else [0.0] * info.channels)
        self.std = stats(info.std if normalized else [1.0] * info.channels)

    def strong(self, image: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """The strong view of normalized images [B, C, H, W]."""
        s = self.semisup
        mean, std = self.mean.to(image.device), self.std.to(image.device)
        return strong_view(image, mean, std, g, s.strong_ops, s.cutout, geometric=not self.per_pixel)


class FixMatch(Scheme):
    """Pseudo-labels from the weak view, taught to the strong one where confident; for per-pixel tasks the
    strong views are CutMixed between images and the pseudo-labels mixed alike."""

    def step(self, forward: Forward, logits: Logits, labeled: dict, unlabeled: dict,
             g: torch.Generator) -> tuple[Any, torch.Tensor]:
        """(labeled outputs, weighted unlabeled loss)."""
        weak = unlabeled["image"]
        strong = self.strong(weak, g)
        box = cutmix_boxes(weak.shape[0], weak.shape[-2], weak.shape[-1], g) if self.per_pixel else None
        if box is not None:
            strong = from_partner(strong, box)
        out_labeled, out_weak, out_strong = forward([labeled, unlabeled, {**unlabeled, "image": strong}])
        if box is None:
            loss, _ = fixmatch_loss(logits(out_weak), logits(out_strong), self.semisup.threshold)
        else:
            valid = valid_pixels(unlabeled, self.ignore_index)
            pseudo, valid = mixed_labels(pseudo_labels(logits(out_weak), self.semisup.threshold), valid, box)
            loss = masked_cross_entropy(logits(out_strong), pseudo, valid)
        return out_labeled, self.semisup.weight * loss


class MeanTeacher(Scheme):
    """The student's view of the unlabeled images (a strong view, which ``semisup.strong_ops=0`` and
    ``semisup.cutout=0`` reduce to the weak one) held to the EMA teacher's on the weak view, the weight
    ramped up over ``semisup.rampup_epochs``."""

    def step(self, forward: Forward, logits: Logits, teacher: Forward, labeled: dict, unlabeled: dict,
             g: torch.Generator, epochs_done: float) -> tuple[Any, torch.Tensor]:
        """(labeled outputs, consistency loss weighted by the ramp at ``epochs_done``, training epochs done
        as a fraction)."""
        student_view = {**unlabeled, "image": self.strong(unlabeled["image"], g)}
        out_labeled, out_student = forward([labeled, student_view])
        with torch.no_grad():
            target = logits(teacher([unlabeled])[0])
        weight = self.semisup.weight * sigmoid_rampup(epochs_done, self.semisup.rampup_epochs)
        valid = valid_pixels(unlabeled, self.ignore_index) if self.per_pixel else None
        return out_labeled, weight * softmax_mse(logits(out_student), target, valid)


class NoisyStudent(Scheme):
    """The teacher's pseudo-labels, looked up by the unlabeled samples' ``index``, taught to the strong view
    of the pool, each sample weighted (class balance; 0 below the threshold)."""

    def step(self, forward: Forward, logits: Logits, labeled: dict, unlabeled: dict, g: torch.Generator,
             targets: torch.Tensor, weights: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """(labeled outputs, weighted pseudo-label loss); ``targets`` [N, K] and ``weights`` [N] cover the pool."""
        out_labeled, out_strong = forward([labeled, {**unlabeled, "image": self.strong(unlabeled["image"], g)}])
        rows = unlabeled["index"].to(targets.device)
        loss = soft_cross_entropy(logits(out_strong), targets[rows], weights[rows])
        return out_labeled, self.semisup.weight * loss
