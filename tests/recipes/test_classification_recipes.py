"""Every classification and domain-generalization recipe trains a few batches on CPU, on tiny data in its
dataset's real format; the segmentation and panoptic recipes do so in their own files here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision

from formats import accept_cifar, accept_mnist, write_cifar, write_mnist, write_officehome
from vislab.config import recipe_names, resolve

TINY = ["train.epochs=1", "train.limit_batches=2", "train.progress=false"]


def prepare_mnist(data: Path, monkeypatch) -> list[str]:
    write_mnist(data, n_train=100, n_test=20)
    accept_mnist(monkeypatch, data)
    return ["data.limit=40"]


def prepare_fashion_mnist(data: Path, monkeypatch) -> list[str]:
    write_mnist(data, n_train=100, n_test=20, folder="fashion_mnist")
    accept_mnist(monkeypatch, data, "fashion_mnist")
    return ["data.limit=40"]


def prepare_cifar10(data: Path, monkeypatch) -> list[str]:
    write_cifar(data, "cifar10", n_train=100, n_test=10)
    accept_cifar(monkeypatch, data, "cifar10")
    return ["data.limit=8", "train.batch_size=4"]


def prepare_cifar100(data: Path, monkeypatch) -> list[str]:
    write_cifar(data, "cifar100", n_train=500, n_test=10)
    accept_cifar(monkeypatch, data)
    hub = data.parent / "torch"
    monkeypatch.setenv("TORCH_HOME", str(hub))  # the ImageNet weights, as the first download leaves them
    (hub / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(torchvision.models.efficientnet_v2_s().state_dict(), hub / "hub" / "checkpoints" / "efficientnet_v2_s-dd5fe13b.pth")
    # 32x32 instead of 224x224 and 2 images per batch: the recipe's pipeline, at a size a CPU test affords
    return ["data.limit=2", "train.batch_size=2", "aug.resize=[32,32]", "aug.random_crop.size=32", "aug.random_crop.padding=4"]


def prepare_officehome(data: Path, monkeypatch) -> list[str]:
    write_officehome(data, {"Bike": 3, "Mug": 3})
    hub = data.parent / "torch"
    monkeypatch.setenv("TORCH_HOME", str(hub))
    weights = hub / "hub" / "checkpoints" / Path(torchvision.models.get_model_weights("resnet18").DEFAULT.url).name
    weights.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18().state_dict(), weights)  # as the first download leaves it
    # resnet18 (resnet50's stage names, a third of its layers), 32x32 crops, 4 images per batch: the recipe's
    # pipeline, freeze, MixStyle and heads at a size a shared CPU affords
    return ["model.name=resnet18", "train.batch_size=4", "train.eval_batch_size=8", "aug.resize=[36,36]",
            "aug.random_crop.size=32", "aug.center_crop=32"]


PREPARE = {
    "digits": lambda data, mp: [], "mnist-cnn": prepare_mnist, "cifar100-effnetv2": prepare_cifar100,
    "fashion-mnist-cnn": prepare_fashion_mnist, "cifar10-resnet18": prepare_cifar10,
    "digits-dg": lambda data, mp: [], "digits-dg-mixstyle": lambda data, mp: [],
    "officehome-mixstyle": prepare_officehome, "officehome-erm": prepare_officehome,
    "digits-fixmatch": lambda data, mp: [], "digits-meanteacher": lambda data, mp: [],
}
CLASSES = {"cifar100-effnetv2": 100, "officehome-mixstyle": 2, "officehome-erm": 2}


SLOW = {"cifar100-effnetv2", "cifar10-resnet18"}  # ImageNet-sized networks: over 30 s on 2 shared cores


SMOKED_ELSEWHERE = {  # test_segmentation_recipes.py and test_panoptic_recipes.py
    "shapes-unet", "voc-deeplabv3", "voc-unet", "voc-unet-baseline", "shapes-panoptic", "voc-panoptic",
    "ade20k-deeplabv3", "cityscapes-unet",
    "shapes-fixmatch", "voc-semisup", "officehome-noisy-student", "cifar100-kd",  # test_semisup_recipes.py
}


def test_every_packaged_recipe_has_a_smoke_run():
    assert set(recipe_names()) == set(PREPARE) | SMOKED_ELSEWHERE


@pytest.mark.parametrize(
    "recipe", [pytest.param(r, marks=pytest.mark.slow) if r in SLOW else r for r in sorted(PREPARE)]
)
def test_recipe_trains_a_few_batches(main, tmp_path, monkeypatch, recipe):
    overrides = PREPARE[recipe](tmp_path / "data", monkeypatch)
    code, out, err = main("train", recipe, *overrides, *TINY)
    assert code == 0, err
    run = Path(out.split("run directory: ")[1].split()[0])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 1
    assert 0.0 <= summary["metrics"]["val_acc"] <= 1.0 and (run / "checkpoints" / "best.pt").is_file()
    info = json.loads((run / "data_info.json").read_text())
    assert info["num_classes"] == CLASSES.get(recipe, 10)


def test_the_domain_generalization_recipes_say_what_the_course_did():
    mix = resolve("officehome-mixstyle")
    assert (mix.data.name, mix.data.protocol, mix.model.name, mix.model.pretrained) == ("officehome", "mixed", "resnet50", True)
    assert (mix.model.mixstyle.p, mix.model.mixstyle.alpha, mix.model.freeze, mix.model.dropout) == (0.5, 0.1, ["stem", "layer1"], 0.5)
    assert mix.model.domain_head and mix.loss.domain_weight == 1.0
    assert (mix.optim.name, mix.optim.lr, mix.sched.name, mix.sched.step_size, mix.sched.gamma) == ("adamw", 4e-4, "step", 7, 0.3)
    assert (mix.train.epochs, mix.train.batch_size) == (20, 64)
    erm = resolve("officehome-erm")
    assert erm.model.mixstyle is None and not erm.model.domain_head
    assert resolve("digits-dg").model.mixstyle is None and resolve("digits-dg-mixstyle").model.mixstyle is not None


def test_the_course_recipes_say_what_the_course_did():
    mnist = resolve("mnist-cnn")
    assert (mnist.data.name, mnist.model.name, mnist.train.batch_size, mnist.train.epochs) == ("mnist", "cnn-mnist", 100, 25)
    assert (mnist.optim.name, mnist.optim.lr, mnist.sched.name, mnist.sched.step_size, mnist.sched.gamma) == (
        "adam", 1.08e-3, "step", 4, 0.5)
    assert mnist.aug.rotation == 13
    cifar = resolve("cifar100-effnetv2")
    assert (cifar.model.name, cifar.model.pretrained, cifar.aug.resize, cifar.aug.interpolation) == (
        "efficientnet_v2_s", True, [224, 224], "bilinear")
    assert cifar.aug.random_crop.padding_mode == "reflect" and cifar.aug.hflip and cifar.aug.rotation
    assert (cifar.aug.cutmix.p, cifar.optim.name, cifar.optim.lr, cifar.optim.weight_decay) == (0.5, "adamw", 4e-4, 1e-3)
    assert (cifar.sched.name, cifar.sched.step_size, cifar.sched.gamma, cifar.train.epochs, cifar.train.batch_size) == (
        "step", 10, 0.9, 25, 128)
