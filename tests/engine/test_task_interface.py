"""Task interface v2: a task's own steps and hooks, and the extra models and streams the engine places,
seeds, checkpoints and resumes for it; the task chosen by task.name."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vislab import config, tasks
from vislab.data.bundle import DataBundle, DataInfo
from vislab.data.datasets import MemoryDataset
from vislab.engine import fit, load_checkpoint, make_fabric, seed_all
from vislab.errors import VislabError
from vislab.runs import Run
from vislab.tasks import Stream
from vislab.tasks.classification import ClassificationTask

INFO = DataInfo("classification", 4, list("abcd"), 1, [0.5], [0.25], image_size=(6, 6))


def tiny_bundle() -> DataBundle:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (72, 1, 6, 6), dtype=torch.uint8, generator=g)
    targets = torch.randint(0, 4, (72,), generator=g)
    return DataBundle(MemoryDataset(images[:48], targets[:48]), MemoryDataset(images[48:], targets[48:]), None, INFO)


class MeanTeacher(ClassificationTask):
    """The base class docstring's example, recording what each step saw."""

    def __init__(self, cfg: config.Config, info: DataInfo, crash_at: int | None = None) -> None:
        super().__init__(cfg, info)
        self.crash_at = crash_at
        self.seen: dict[int, list[int]] = {}  # global step -> indices of the unlabeled batch
        self.hooks: list[str] = []

    def extra_models(self, model):
        return {"teacher": copy.deepcopy(model).requires_grad_(False)}

    def extra_streams(self, bundle):
        return {"unlabeled": Stream(bundle.val, batch_size=5)}  # 24 samples: 4 batches, fewer than the main 6

    def training_step(self, model, batch, ctx):
        if ctx.global_step == self.crash_at:
            raise RuntimeError("killed")
        loss, outputs = super().training_step(model, batch, ctx)
        unlabeled = ctx.batches["unlabeled"]
        self.seen[ctx.global_step] = unlabeled["index"].tolist()
        with torch.no_grad():
            target = ctx.models["teacher"](unlabeled["image"]).softmax(1)
        return loss + F.mse_loss(model(unlabeled["image"]).softmax(1), target), outputs

    def on_train_epoch_start(self, model, ctx):
        self.hooks.append(f"start {ctx.epoch}.{ctx.step}")

    def after_optimizer_step(self, model, ctx):
        for t, s in zip(ctx.models["teacher"].parameters(), model.parameters()):
            t.lerp_(s.detach(), 0.5)

    def on_train_epoch_end(self, model, ctx):
        self.hooks.append(f"end {ctx.epoch}.{ctx.step}")


def train(run: Run, task: MeanTeacher, resume: bool = False) -> nn.Module:
    cfg = config.resolve("digits", {"train.epochs": 2, "train.batch_size": 8, "train.progress": False,
                                    "train.checkpoint_every_steps": 4, "sched.name": "none"})
    seed_all(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 4))
    checkpoint = load_checkpoint(run.checkpoint_path("last")) if resume else None
    fit(cfg, tiny_bundle(), model, task, run, make_fabric(cfg.train), resume=checkpoint)
    return model


def test_extra_models_and_streams_are_checkpointed_and_resume_exactly(tmp_path):
    cfg = config.resolve("digits")
    full = MeanTeacher(cfg, INFO)
    full_run = Run.create(tmp_path / "a", "toy")
    train(full_run, full)
    assert full.hooks == ["start 0.0", "end 0.6", "start 1.0", "end 1.6"]
    # The stream rolls over on its own: 4 batches of 5 distinct samples an epoch, each epoch in a new order.
    epochs = [sum((full.seen[g] for g in range(e * 4, e * 4 + 4)), []) for e in range(3)]
    assert all(len(set(e)) == 20 for e in epochs) and epochs[0] != epochs[1] != epochs[2]

    crashed = MeanTeacher(cfg, INFO, crash_at=10)  # last.pt at global step 8: epoch 1, step 2
    run = Run.create(tmp_path / "b", "toy")
    with pytest.raises(RuntimeError, match="killed"):
        train(run, crashed)
    saved = load_checkpoint(run.checkpoint_path("last"))
    assert saved["state"]["global_step"] == 8 and set(saved["extra_models"]) == {"teacher"}
    resumed = MeanTeacher(cfg, INFO)
    train(run, resumed, resume=True)
    assert resumed.hooks == ["start 1.2", "end 1.6"]
    assert {g: resumed.seen[g] for g in range(8, 12)} == {g: full.seen[g] for g in range(8, 12)}
    last, full_last = load_checkpoint(run.checkpoint_path("last")), load_checkpoint(full_run.checkpoint_path("last"))
    for name in ("model", "extra_models"):
        a, b = last[name], full_last[name]
        flat = (lambda d: d["teacher"]) if name == "extra_models" else (lambda d: d)
        for key in flat(a):
            assert torch.equal(flat(a)[key], flat(b)[key]), (name, key)
    assert [r["val_acc"] for r in run.history] == [r["val_acc"] for r in full_run.history]


def test_a_checkpoint_without_the_tasks_extra_model_is_bad_input(tmp_path):
    cfg = config.resolve("digits")
    run = Run.create(tmp_path, "toy")
    train(run, MeanTeacher(cfg, INFO))
    saved = load_checkpoint(run.checkpoint_path("last"))
    saved["state"]["epoch"] = 1  # as if one epoch were left
    del saved["extra_models"]["teacher"]
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 4))
    cfg2 = config.resolve("digits", {"train.epochs": 2, "train.batch_size": 8, "train.progress": False})
    with pytest.raises(VislabError, match="holds no state of the task's extra model 'teacher'"):
        fit(cfg2, tiny_bundle(), model, MeanTeacher(cfg, INFO), run, make_fabric(cfg2.train), resume=saved)


SEG = DataInfo("segmentation", 3, list("abc"), 3, [0.5] * 3, [0.25] * 3, thing_classes=[1, 2])
DG = DataInfo("domain_generalization", 5, list("abcde"), 3, [0.5] * 3, [0.25] * 3, domains=["p", "q"],
                image_size=(32, 32))


@pytest.mark.parametrize("recipe, overrides, info, name", [
    ("digits", {}, INFO, "classification"),
    ("digits-dg", {}, DG, "domain_generalization"),
    ("digits-dg", {"task.name": "classification"}, DG, "classification"),  # ERM on pooled domains
    ("shapes-unet", {}, SEG, "segmentation"),
    ("shapes-panoptic", {}, SEG, "panoptic"),
])
def test_the_task_is_task_name_or_the_datasets_kind(recipe, overrides, info, name):
    assert tasks.build(config.resolve(recipe, overrides), info).name == name


@pytest.mark.parametrize("recipe, overrides, info, message", [
    ("digits", {"task.name": "segmentation"}, INFO,
     "task.name=segmentation cannot train on dataset digits \\(classification data\\); use task.name=classification"),
    ("shapes-unet", {"model.heads": "panoptic"}, SEG, "only task.name=panoptic trains; set task.name=panoptic"),
    ("shapes-unet", {"task.name": "panoptic"}, SEG, "task.name=panoptic learns centers and offsets: use a model"),
])
def test_a_task_the_data_or_model_cannot_serve_is_bad_input(recipe, overrides, info, message):
    with pytest.raises(VislabError, match=message):
        tasks.build(config.resolve(recipe, overrides), info)


def test_the_domain_generalization_task_builds_its_wrapper():
    cfg = config.resolve("digits-dg", {"model.domain_head": True})
    model = tasks.build(cfg, DG).build_model(cfg, DG)
    out = model(torch.zeros(2, 3, 32, 32), torch.tensor([0, 1]))
    assert out["logits"].shape == (2, 5) and out["domain_logits"].shape == (2, 2)
    erm = config.resolve("digits-dg", {"task.name": "classification"})
    assert tasks.build(erm, DG).build_model(erm, DG)(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
