"""Ensembles of classification (and domain-generalization) runs: each member's class probabilities over a
shared split, then a vote."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .errors import VislabError


@dataclass
class MemberOutput:
    """One run's view of a split: probabilities [N, C], true classes [N], sample indices [N]."""

    run: str
    probs: torch.Tensor
    targets: torch.Tensor
    index: torch.Tensor
    class_names: list[str]
    files: list[str]


def split_logits(restored: Any, split: str, use: str = "ensembles vote over") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class logits [N, C], true classes [N] and sample indices [N] of a restored classification (or
    domain-generalization) run over ``split``, in index order, through its own evaluation pipeline. Other runs
    have no class logits: bad input, saying what ``use`` (``"ensembles vote over"``) needs."""
    from .engine import make_loader, predictions

    r = restored
    task = r.task
    if task.per_pixel:  # per-image tasks have class logits (domain generalization from its class head)
        raise VislabError(f"{r.run.dir} is a {task.name} run; {use} the class probabilities of classification "
                          "and domain-generalization runs")
    dataset = getattr(r.bundle, split)
    if dataset is None:
        raise VislabError(f"{r.run.dir}: dataset {r.cfg.data.name} has no {split} split")
    loader = make_loader(r.cfg, dataset, r.fabric, r.bundle, train=False, sharded=False)
    logits, targets, index = [], [], []
    for outputs, batch in predictions(r.model, loader, task, r.fabric, r.cfg):
        logits.append(task.class_logits(outputs).float().cpu())
        targets.append(batch["target"].cpu())
        index.append(torch.as_tensor(batch["index"]).cpu())
    return torch.cat(logits), torch.cat(targets), torch.cat(index)


def member_outputs(restored: Any, split: str) -> MemberOutput:
    """Probabilities of a restored run (see inference.restore) over ``split`` (split_logits), divided by the
    temperature ``vislab calibrate`` stored with the run, if any, before the softmax."""
    from .calibration import run_temperature

    r = restored
    logits, targets, index = split_logits(r, split)
    probs = (logits / run_temperature(r.run.dir)).softmax(1)
    return MemberOutput(str(r.run.dir), probs, targets, index, r.info.class_names, r.bundle.files.get(split, []))


def check_shared(members: list[MemberOutput], split: str) -> None:
    """Every member saw the same samples with the same labels and classes, else bad input."""
    first = members[0]
    for m in members[1:]:
        same = (
            m.class_names == first.class_names
            and m.files == first.files
            and torch.equal(m.index, first.index)
            and torch.equal(m.targets, first.targets)
        )
        if not same:
            raise VislabError(
                f"{m.run} and {first.run} do not share the {split} split (other data, data.split_seed, "
                "data.val_fraction or data.limit); an ensemble needs the same samples"
            )


def vote(members: list[MemberOutput], how: str) -> torch.Tensor:
    """Predicted classes [N]: soft, the argmax of the mean probabilities; hard, the class most members
    predict, ties going to the class with the higher mean probability."""
    mean = torch.stack([m.probs for m in members]).mean(0)
    if how == "soft":
        return mean.argmax(1)
    votes = torch.zeros_like(mean)
    for m in members:
        votes.scatter_add_(1, m.probs.argmax(1, keepdim=True), torch.ones_like(mean[:, :1]))
    return (votes + mean / 2).argmax(1)  # mean/2 < 1 vote: it only breaks ties


def vote_accuracy(members: list[MemberOutput], how: str, split: str) -> dict[str, Any]:
    """{"split", "size", "members": [{"run", "acc"}], "ensemble": {"vote", "acc"}}."""
    check_shared(members, split)
    targets = members[0].targets

    def acc(pred: torch.Tensor) -> float:
        return float((pred == targets).float().mean())

    return {
        "split": split,
        "size": len(targets),
        "members": [{"run": m.run, "acc": acc(m.probs.argmax(1))} for m in members],
        "ensemble": {"vote": how, "acc": acc(vote(members, how))},
    }
