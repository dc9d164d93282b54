"""The classification and domain-generalization recipes say what the course reports did (every recipe trains
through the command line in tests/journeys/test_recipes.py)."""

from __future__ import annotations

from vislab.config import resolve


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
