"""vislab explain: every model family declares the layer its class-activation maps read, and gives maps of the
image's size; the verb writes captioned overlays through the CLI, and refuses bad input with one line."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vislab import config, models
from vislab.data import DataInfo
from vislab.cam import Images, cam_maps, explainer_for, targets_for
from vislab.models import contract as contract_mod
from vislab.models import torchvision_models

SEG = DataInfo("segmentation", 3, list("abc"), 1, [0.5], [0.2])
CLS = DataInfo("classification", 3, list("abc"), 1, [0.5], [0.2], image_size=(32, 32))
DG = DataInfo("domain_generalization", 3, list("abc"), 1, [0.5], [0.2], domains=["x", "y"], image_size=(32, 32))

# family -> (model.* keys, data, image size); one tiny model each, built on the fly
FAMILIES = {
    "cnn-mnist": ({"name": "cnn-mnist"}, CLS, (32, 32)),
    "cnn-dg": ({"name": "cnn-dg"}, CLS, (32, 32)),
    "torchvision-cnn": ({"name": "mobilenet_v3_small"}, CLS, (32, 32)),
    "torchvision-vit": ({"name": "vit_b_32"}, DataInfo("classification", 3, list("abc"), 1, [0.5], [0.2], image_size=(224, 224)), (224, 224)),
    "torchvision-swin": ({"name": "swin_t"}, CLS, (64, 64)),
    "timm-cnn": ({"name": "timm/resnet10t"}, CLS, (32, 32)),
    "timm-vit": ({"name": "timm/vit_tiny_patch16_224"}, DataInfo("classification", 3, list("abc"), 1, [0.5], [0.2], image_size=(224, 224)), (224, 224)),
    "timm-swin": ({"name": "timm/swin_tiny_patch4_window7_224"}, DataInfo("classification", 3, list("abc"), 1, [0.5], [0.2], image_size=(224, 224)), (224, 224)),
    "unet": ({"name": "unet", "depth": 3, "widths": [4, 8, 16]}, SEG, (32, 48)),
    "unet-panoptic": ({"name": "unet", "depth": 3, "widths": [4, 8, 16], "heads": "panoptic"}, SEG, (32, 48)),
    "tv-segmentation": ({"name": "lraspp_mobilenet_v3_large"}, SEG, (64, 64)),
    "deeplabv3": ({"name": "deeplabv3_resnet50"}, SEG, (64, 64)),
    "panoptic_deeplab": ({"name": "panoptic_deeplab"}, SEG, (64, 64)),
    "smp": ({"name": "smp/Unet:resnet18"}, SEG, (64, 64)),
    "domain-generalization": ({"name": "cnn-dg", "domain_head": True}, DG, (32, 32)),
}


def build(keys: dict, info: DataInfo):
    cfg = config.resolve({"data": {"name": "shapes"}}, {f"model.{k}": v for k, v in keys.items()})
    if info.task == "domain_generalization":  # the task wraps the classifier (tasks.domain_generalization)
        from vislab.models.domain_generalization import with_domains

        return with_domains(models.build(cfg.model, info), cfg.model, info)
    return models.build(cfg.model, info)


def test_every_registered_family_declares_the_layer_its_maps_read():
    registered = {*(f.build for f in models.MODELS.values()), *(f.build for f in models.PREFIXES.values()), models.TORCHVISION.build}
    assert registered == {models.family_of(keys["name"]).build for keys, _, _ in FAMILIES.values()}
    for name in torchvision_models.names():  # every torchvision classifier has a rule, without building 80 models
        if not name.startswith("vit"):
            assert torchvision_models.cam_layer(name, None)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_gives_maps_of_the_image_size(family):
    keys, info, size = FAMILIES[family]
    if keys["name"].startswith("smp/"):
        pytest.importorskip("segmentation_models_pytorch")
    model = build(keys, info).eval()
    contract = contract_mod.contract_of(model)
    assert contract.cam_layer in dict(model.named_modules())
    heads = ("class", "domain") if "domain_logits" in contract.heads else ("class",)
    torch.manual_seed(0)
    x = torch.randn(2, info.channels, *size)
    for head in heads:
        names = info.domains if head == "domain" else info.class_names
        e = explainer_for(model, names, info.task in ("segmentation", "panoptic"), head=head)
        images = Images(x, x.sigmoid(), ["a", "b"])
        targets = targets_for(e.model, images, e.per_pixel, 1, False)
        maps = cam_maps(e.model, e.layer, e.channels_last, "gradcam", images, targets.cam)
        assert maps.shape == (2, *size)
        assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1


def digit_pngs(folder: Path, count: int = 2) -> list[Path]:
    """sklearn's digits as 8x8 grey PNGs, the size digits runs train at."""
    from sklearn.datasets import load_digits

    folder.mkdir(parents=True, exist_ok=True)
    images = load_digits().images[:count]
    paths = []
    for i, image in enumerate(images):
        path = folder / f"digit{i}.png"
        Image.fromarray((image * 255 / 16).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    from conftest import run_cli

    runs = tmp_path_factory.mktemp("runs")
    done = run_cli("train", "digits", "train.epochs=1", "--runs-dir", runs)
    assert done.returncode == 0, done.stderr
    return next(runs.glob("digits/*"))


def test_explain_writes_a_captioned_overlay_and_a_map_per_image_and_method(cli, digits_run, tmp_path):
    files = digit_pngs(tmp_path / "images")
    out = tmp_path / "maps"
    done = cli("explain", digits_run, *files, "--method", "gradcam", "--method", "scorecam", "--out", out)
    assert done.returncode == 0, done.stderr
    for f in files:
        for method in ("gradcam", "scorecam"):
            overlay, cam = out / f"{f.stem}_{method}.png", out / f"{f.stem}_{method}_map.png"
            assert overlay.is_file() and f"{overlay}: {f.stem}: predicted " in done.stdout
            assert Image.open(cam).size == (8, 8)
        assert np.asarray(Image.open(out / f"{f.stem}_gradcam_map.png")).max() == 255  # scaled to [0, 1] per map
    assert f"{method} map of " in done.stdout and "at features.6" in done.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--method", "gradcamm"], "--method gradcamm: did you mean gradcam"),
    (["--target", "true"], "--target true needs the images' labels"),
    (["--target", "eleven"], "--target eleven: not a class of this run"),
    (["--head", "domain"], "--head domain: this run's model has no domain head"),
    (["--layer", "features.66"], "--layer features.66: the model has no such module; did you mean"),
])
def test_bad_input_is_one_line_and_writes_nothing(cli, digits_run, tmp_path, args, message):
    files = digit_pngs(tmp_path / "images", 1)
    out = tmp_path / "maps"
    done = cli("explain", digits_run, *files, "--out", out, *args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not out.exists()


def test_without_pytorch_grad_cam_the_verb_names_the_pip_line(digits_run, tmp_path):
    import subprocess

    from conftest import SRC

    files = digit_pngs(tmp_path / "images", 1)
    code = ("import sys; sys.modules['pytorch_grad_cam'] = None; from vislab.cli import main; "
            f"sys.exit(main(['explain', {str(digits_run)!r}, {str(files[0])!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(SRC), "PATH": ""})
    assert done.returncode == 2
    assert done.stderr.strip() == "vislab: error: vislab explain needs pytorch-grad-cam: pip install 'vislab[explain]' (or pip install grad-cam)"


@pytest.mark.slow
def test_segmentation_maps_of_a_named_class_from_the_runs_own_split(cli, tmp_path):
    runs = tmp_path / "runs"
    done = cli("train", "shapes-unet", "data.num_samples=64", "data.image_size=32", "train.epochs=1", "--runs-dir", runs)
    assert done.returncode == 0, done.stderr
    run = next(runs.glob("shapes-unet/*"))
    from vislab.runs import Run, read_data_info

    name = read_data_info(Run.load(run)).class_names[1]
    done = cli("explain", run, "--split", "val", "--count", "2", "--target", name)
    assert done.returncode == 0, done.stderr
    maps = sorted((run / "explain").glob("*_gradcam_map.png"))
    assert len(maps) == 2 and all(Image.open(m).size == (32, 32) for m in maps)
    assert done.stdout.count(f"gradcam map of {name} at decoder.2") == 2
    done = cli("explain", run, "--split", "val", "--count", "2", "--target", name, "--check", "--out", tmp_path / "check")
    assert done.returncode == 0, done.stderr
    import json

    saved = json.loads((tmp_path / "check" / "check.json").read_text())["methods"]["gradcam"]
    assert "inside/outside" in done.stdout.splitlines()[0] and "inside_outside" in saved


@pytest.mark.slow
def test_the_domain_head_of_a_domain_generalization_run(cli, tmp_path):
    runs = tmp_path / "runs"
    done = cli("train", "digits-dg-mixstyle", "train.epochs=1", "train.limit_batches=2", "--runs-dir", runs)
    assert done.returncode == 0, done.stderr
    run = next(runs.glob("digits-dg-mixstyle/*"))
    done = cli("explain", run, "--split", "test", "--count", "1", "--head", "domain", "--method", "layercam")
    assert done.returncode == 0, done.stderr
    assert "layercam map of " in done.stdout and "at net.block4.2" in done.stdout
    assert len(list((run / "explain").glob("*_layercam_map.png"))) == 1


@pytest.mark.slow
def test_check_reports_each_method_and_agrees_with_its_json(cli, digits_run, tmp_path):
    import json

    done = cli("explain", digits_run, "--split", "test", "--count", "6", "--check", "--method", "gradcam",
               "--method", "eigencam", "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    saved = json.loads((tmp_path / "check.json").read_text())
    assert saved["layer"] == "features.6" and list(saved["methods"]) == ["gradcam", "eigencam"]
    for method, r in saved["methods"].items():
        assert r["images"] == 6 and -1 <= r["randomization"] <= 1
        assert r["passed"] == (r["randomization"] < 0.5 and r["deletion"] < r["deletion_random"])
        line = next(l for l in done.stdout.splitlines() if l.startswith(method + " "))
        assert f"{r['randomization']:.3f}" in line and f"{r['deletion']:.4f}" in line
        assert line.endswith("  ok") if r["passed"] else "  FAILS: " in line
    assert not list(tmp_path.glob("*_map.png"))  # the check writes no overlays


@pytest.mark.slow
def test_check_flags_the_maps_of_a_model_that_learned_nothing(cli, tmp_path):
    runs = tmp_path / "runs"
    done = cli("train", "digits", "train.epochs=1", "optim.lr=1e-12", "--runs-dir", runs)
    assert done.returncode == 0, done.stderr
    run = next(runs.glob("digits/*"))
    done = cli("explain", run, "--split", "test", "--count", "10", "--check")
    assert done.returncode == 0, done.stderr
    line = next(l for l in done.stdout.splitlines() if l.startswith("gradcam "))
    assert "FAILS: maps of a re-initialized model rank pixels alike" in line
