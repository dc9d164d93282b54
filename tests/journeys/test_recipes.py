"""Every packaged recipe trains one epoch of two batches through the command line, in a subprocess, with the
progress display a user gets: under a terminal (a pseudo-terminal, where rich draws its bar) or piped into a file
(plain progress lines). Recipes whose data is not on this machine train on small files written in their dataset's
real on-disk format under the test's data root; pretrained weights are files of the right architecture in torch's
hub cache, where a first download would have left them (their values are random: the runs check that the recipes
train, not what they learn), and each recipe's own outputs are checked after its run.

What the display draws depends on the verb, the task and the scheme (their running metrics), not on the dataset or
the network: the embedded recipes (one per task and scheme) and the two full-size recipes of a verb or loss of their
own run under both displays; the other full-size recipes once each, half of them under each display."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import yaml

from conftest import ROOT, SRC
from formats import write_cifar, write_mnist, write_officehome
from seg_files import write_ade20k, write_cityscapes, write_voc
from vislab.config import recipe_names

SMOKE = ["train.epochs=1", "train.limit_batches=2"]
TIMEOUT = 300
ANSI = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07|[()][A-Z0-9])")
EPOCH_LINE = re.compile(r"^epoch 1/1  lr \S+  train_loss \S+ .* img/s$", re.M)
PLAIN_PROGRESS = re.compile(r"^epoch 1/1  50% \(1/2\)  (loss .*)$", re.M)
BAR = re.compile(r"^epoch 1/1 [━╸╺]+ [12]/2 (loss .*)$", re.M)  # drawn with the running values

# The published MNIST checksums cannot match tiny files, and vislab checks them on every load: for these
# datasets the subprocess first makes vislab accept the tiny files' checksums (the check itself still runs),
# then calls the very function `python -m vislab` calls, after the thread planning `vislab train` does first.
CHECKSUM_LAUNCHER = """
import sys
from pathlib import Path
import pytest
from vislab.threads import prepare_process
prepare_process()
from formats import accept_mnist
accept_mnist(pytest.MonkeyPatch(), Path(sys.argv[1]), sys.argv[2])
from vislab.cli import main
raise SystemExit(main(sys.argv[3:]))
"""


Check = Callable[[list[Path], str], None]  # the recipe's own outputs: its run directories and what was shown


@dataclass
class Setup:
    """How one recipe runs here: the overrides after its name, for MNIST-format data the checksums to accept, and
    what its runs must have written beyond what every recipe writes."""

    overrides: list[str] = field(default_factory=list)
    verb: list[str] = field(default_factory=lambda: ["train"])
    checksums_of: str | None = None
    check: Check | None = None


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def classes(n: int) -> Check:
    def check(runs: list[Path], shown: str) -> None:
        assert [json.loads((r / "data_info.json").read_text())["num_classes"] for r in runs] == [n] * len(runs)

    return check


def segmentation(num_classes: int, *class_metrics: str) -> Check:
    def check(runs: list[Path], shown: str) -> None:
        classes(num_classes)(runs, shown)
        (run,) = runs
        assert summary(run)["best_metric"] == "val_miou" and set(class_metrics) <= set(summary(run)["metrics"])
        assert {"per_class_iou.csv", "per_class_iou.md", "worst_val.png"} <= {p.name for p in (run / "artifacts").iterdir()}

    return check


def labeled_share(share: float) -> Check:
    """A semi-supervised run labels ``share`` of its training images and leaves the rest unlabeled, apart."""
    def check(runs: list[Path], shown: str) -> None:
        (run,) = runs
        labeled = (run / "splits" / "labeled.txt").read_text().splitlines()
        unlabeled = (run / "splits" / "unlabeled.txt").read_text().splitlines()
        assert labeled and len(labeled) == round(share * (len(labeled) + len(unlabeled))) and not set(labeled) & set(unlabeled)
        assert summary(run)["train_size"] == len(labeled)

    return check


@pytest.fixture(scope="session")
def torch_home(tmp_path_factory) -> Path:
    """One hub cache per test process, filled on demand by ``cache_weights``."""
    return tmp_path_factory.mktemp("torch")


def cache_weights(torch_home: Path, weights, build: Callable[[], object]) -> None:
    """torchvision's ``weights`` file in the hub cache, holding the state dict of ``build()`` (random values)."""
    import torch

    path = torch_home / "hub" / "checkpoints" / Path(weights.url).name
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(build().state_dict(), path.with_suffix(".part"))
        path.with_suffix(".part").rename(path)


def imagenet(torch_home: Path, name: str) -> None:
    import torchvision

    cache_weights(torch_home, torchvision.models.get_model_weights(name).DEFAULT, lambda: torchvision.models.get_model(name))


def coco_deeplab(torch_home: Path, name: str) -> None:
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    cache_weights(torch_home, weights, lambda: torchvision.models.get_model(
        name, num_classes=21, aux_loss=True, weights_backbone=None))


def mnist(folder: str) -> Callable[..., Setup]:
    def prepare(data: Path, torch_home: Path) -> Setup:
        write_mnist(data, n_train=400, n_test=20, folder=folder)  # two batches of the recipe's 100 or 128 beside val
        return Setup(checksums_of=folder, check=classes(10))

    return prepare


def cifar10(data: Path, torch_home: Path) -> Setup:
    write_cifar(data, "cifar10", n_train=400, n_test=10, packed=False)  # two batches of 128 beside val
    return Setup(check=classes(10))


# CIFAR-100 at 32x32 (the recipe resizes to 224x224) in batches of 8: EfficientNetV2-S on a shared CPU.
CIFAR100_SMALL = ["aug.resize=[32,32]", "aug.random_crop.size=32", "aug.random_crop.padding=4", "train.batch_size=8"]


def cifar100(data: Path, torch_home: Path) -> Setup:
    write_cifar(data, "cifar100", n_train=500, n_test=10, packed=False)  # a val image per class
    imagenet(torch_home, "efficientnet_v2_s")
    return Setup(CIFAR100_SMALL, check=classes(100))


def cifar100_kd(data: Path, torch_home: Path) -> Setup:
    """The student needs a finished cifar100-effnetv2 run as its teacher: one is trained first, in-process."""
    from vislab import api, config

    cifar100(data, torch_home)
    imagenet(torch_home, "resnet18")
    overrides = dict(config.parse_override(o) for o in [*SMOKE, *CIFAR100_SMALL, "train.progress=false"])
    teacher = api.train("cifar100-effnetv2", runs_dir=data.parent / "teacher", overrides=overrides)
    return Setup([*CIFAR100_SMALL, f"loss.distill.teacher={teacher.dir}"], check=classes(100))


# ResNet-50 on 32x32 crops (the recipe: 224x224) in batches of 4.
OFFICEHOME_SMALL = ["aug.resize=[36,36]", "aug.random_crop.size=32", "aug.center_crop=32", "train.batch_size=4"]


def officehome(data: Path, torch_home: Path) -> Setup:
    write_officehome(data, {"Bike": 10, "Mug": 10})  # noisy-student labels a fifth: two batches of 4
    imagenet(torch_home, "resnet50")
    return Setup(OFFICEHOME_SMALL, check=classes(2))


def noisy_student(data: Path, torch_home: Path) -> Setup:
    def check(runs: list[Path], shown: str) -> None:
        teacher, student = sorted(runs)
        semisup = yaml.safe_load((student / "config.yaml").read_text())["semisup"]
        assert (semisup["teacher"], semisup["pseudo"]) == (str(teacher), "soft") and "round 1:" in shown

    setup = officehome(data, torch_home)
    return Setup(setup.overrides, verb=["selftrain", "--rounds", "1"], check=check)


# VOC's recipes crop or pad to 300x400 and 321x321: 32x32 here, in batches of 2.
VOC_SMALL = ["train.batch_size=2", "aug.random_crop.size=[32,32]"]


def voc_unet(data: Path, torch_home: Path) -> Setup:
    def check(runs: list[Path], shown: str) -> None:
        segmentation(21, "val_iou_person")(runs, shown)
        assert (runs[0] / "splits" / "train.txt").read_text().count("\n") == 4  # the images, not their repeated passes

    write_voc(data)
    return Setup([*VOC_SMALL, "data.repeat=[{resize: [32, 40]}, {random_crop: {size: [32, 32], pad_if_needed: true}}]"],
                 check=check)


def voc_deeplab(data: Path, torch_home: Path) -> Setup:
    write_voc(data)
    coco_deeplab(torch_home, "deeplabv3_resnet101")
    return Setup(["train.batch_size=2"], check=segmentation(21, "val_iou_person"))


def voc_semisup(data: Path, torch_home: Path) -> Setup:
    write_voc(data, train=32, train_aug=True)  # an eighth labeled: two batches of 2
    coco_deeplab(torch_home, "deeplabv3_resnet101")
    return Setup(VOC_SMALL, check=labeled_share(0.125))


def voc_panoptic(data: Path, torch_home: Path) -> Setup:
    write_voc(data, objects=True)
    imagenet(torch_home, "resnet101")
    return Setup(["train.batch_size=2"])


def ade20k(data: Path, torch_home: Path) -> Setup:
    write_ade20k(data)
    coco_deeplab(torch_home, "deeplabv3_resnet50")
    return Setup(["train.batch_size=2", "aug.random_crop.size=[32,32]"], check=segmentation(150, "val_iou_wall"))


def cityscapes(data: Path, torch_home: Path) -> Setup:
    write_cityscapes(data)
    return Setup(["train.batch_size=2", "aug.random_crop.size=[32,64]", "eval.sliding_window=[32,64]"],
                 check=segmentation(19, "val_iou_car"))


def as_is(data: Path, torch_home: Path) -> Setup:
    return Setup(check=classes(10))


def shapes_fixmatch(data: Path, torch_home: Path) -> Setup:
    return Setup(check=labeled_share(0.1))


def shapes(data: Path, torch_home: Path) -> Setup:
    return Setup()


EMBEDDED = {"digits", "digits-dg", "digits-dg-mixstyle", "digits-fixmatch", "digits-meanteacher", "shapes-unet",
            "shapes-panoptic", "shapes-fixmatch"}
PREPARE: dict[str, Callable[[Path, Path], Setup]] = {
    "digits": as_is, "digits-dg": as_is, "digits-dg-mixstyle": as_is, "digits-fixmatch": as_is,
    "digits-meanteacher": as_is, "shapes-unet": shapes, "shapes-panoptic": shapes, "shapes-fixmatch": shapes_fixmatch,
    "mnist-cnn": mnist("mnist"), "fashion-mnist-cnn": mnist("fashion_mnist"), "cifar10-resnet18": cifar10,
    "cifar100-effnetv2": cifar100, "cifar100-kd": cifar100_kd, "officehome-mixstyle": officehome,
    "officehome-erm": officehome, "officehome-noisy-student": noisy_student, "voc-unet": voc_unet,
    "voc-unet-baseline": voc_unet, "voc-deeplabv3": voc_deeplab, "voc-semisup": voc_semisup,
    "voc-panoptic": voc_panoptic, "ade20k-deeplabv3": ade20k, "cityscapes-unet": cityscapes,
}


# The journeys train these recipes piped with the default display and check what it shows (journey.py,
# check_trained): here they run under a terminal only.
PIPED_IN_JOURNEYS = {"digits", "digits-dg", "digits-fixmatch", "shapes-unet", "shapes-panoptic", "shapes-fixmatch"}
PIPED = {(r, "piped") for r in PIPED_IN_JOURNEYS}


def test_every_packaged_recipe_is_in_the_matrix() -> None:
    from journeys import (test_classification_journey, test_distillation_journey, test_domain_generalization_journey,
                          test_panoptic_journey, test_segmentation_journey, test_semisup_classification_journey,
                          test_semisup_segmentation_journey)
    from journeys.journey import Journey

    modules = (test_classification_journey, test_distillation_journey, test_domain_generalization_journey,
               test_panoptic_journey, test_segmentation_journey, test_semisup_classification_journey,
               test_semisup_segmentation_journey)
    journeys = {cls.recipe for module in modules for cls in vars(module).values()
                if isinstance(cls, type) and issubclass(cls, Journey) and hasattr(cls, "recipe")}
    assert sorted(PREPARE) == sorted(recipe_names()) and EMBEDDED <= set(PREPARE)
    assert journeys == PIPED_IN_JOURNEYS
    assert sorted({recipe for recipe, _ in matrix()}) == sorted(PREPARE)


def matrix() -> list[tuple[str, str]]:
    """(recipe, display): under both displays the embedded recipes (one per task and scheme; those the journeys
    train piped, under a terminal only) and the recipes whose verb or loss has no embedded twin (selftrain,
    distillation); the other full-size ones alternately under one."""
    both = sorted(EMBEDDED | {"officehome-noisy-student", "cifar100-kd"})
    once = [r for r in sorted(PREPARE) if r not in both]
    return [(r, d) for r in both for d in ("terminal", "piped") if (r, d) not in PIPED] + [
        (r, ("terminal", "piped")[i % 2]) for i, r in enumerate(once)]



def command(recipe: str, setup: Setup, data: Path) -> list[str]:
    args = [*setup.verb, recipe, *SMOKE, *setup.overrides]
    if setup.checksums_of is None:
        return [sys.executable, "-m", "vislab", *args]
    return [sys.executable, "-c", CHECKSUM_LAUNCHER, str(data), setup.checksums_of, *args]


def under_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``argv`` with stdin, stdout and stderr on a 120x40 pseudo-terminal; (exit code, what it showed)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(argv, stdin=terminal, stdout=terminal, stderr=terminal, env=env, cwd=ROOT)
    os.close(terminal)
    shown, deadline = bytearray(), time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            if select.select([controller], [], [], 1.0)[0]:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: every process holding the terminal has closed it
                    break
                if not chunk:
                    break
                shown += chunk
        else:
            proc.kill()
    finally:
        os.close(controller)
    return proc.wait(), shown.decode("utf-8", "replace")


def piped(argv: list[str], env: dict[str, str], log: Path) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr into the file ``log``; (exit code, the file's text)."""
    with open(log, "w") as f:
        code = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                              timeout=TIMEOUT).returncode
    return code, log.read_text()


@pytest.mark.parametrize(("recipe", "display"), matrix())
def test_recipe_trains_two_batches_with_the_default_display(recipe: str, display: str, tmp_path: Path,
                                                            torch_home: Path, monkeypatch) -> None:
    data = tmp_path / "data"  # VISLAB_DATA: where every dataset is looked for
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    setup = PREPARE[recipe](data, torch_home)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT / "tests")]), "TERM": "xterm-256color"}
    argv = command(recipe, setup, data)
    if display == "terminal":
        code, shown = under_terminal(argv, env)
    else:
        code, shown = piped(argv, env, tmp_path / "train.log")
    assert code == 0, shown[-3000:]
    text = ANSI.sub("", shown).replace("\r\n", "\n")
    lines = "\n".join(part for line in text.split("\n") for part in line.split("\r"))
    runs = sorted(p.parent for p in (tmp_path / "runs").glob(f"{recipe}/*/summary.json"))
    summaries = [summary(run) for run in runs]
    assert summaries and all(s["status"] == "completed" and s["epochs_completed"] == 1 for s in summaries), shown[-3000:]
    assert all(0 <= s["metrics"][s["best_metric"]] <= 1 and (r / "checkpoints" / "best.pt").is_file()
               for r, s in zip(runs, summaries))
    assert len(EPOCH_LINE.findall(lines)) == len(summaries), lines[-3000:]
    assert "vislab: run directory " in lines and "Traceback" not in lines
    if display == "terminal":
        running = BAR.findall(lines)
        assert running and not PLAIN_PROGRESS.search(lines), lines[-3000:]
    else:
        running = PLAIN_PROGRESS.findall(lines)
        assert running and "\x1b[" not in shown and "━" not in shown, lines[-3000:]
    assert not any(re.search(r"\b(iou|acc|pq)_", values) for values in running)  # per-class values stay in metrics.csv
    if summaries[0]["best_metric"] in ("val_miou", "val_pq"):  # a confusion matrix once crashed the running display
        assert all(" miou " in values for values in running), running
    if setup.check is not None:
        setup.check(runs, lines)
