"""eval.explain: the evaluation galleries show the class-activation map of the predicted class beside each image
(misclassified images of classification runs, lowest-IoU images of segmentation runs); a method that does not
exist is refused before anything is created."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vislab import config, data, tasks
from vislab.engine import make_loader, predictions
from vislab.inference import single_device_fabric
from vislab.tasks.classification import artifacts


def coloured(pixels: np.ndarray) -> np.ndarray:
    """Where an RGB image [H, W, 3] is coloured, not grey: a map's colours, never a grey image or its captions."""
    rgb = pixels[..., :3].astype(int)
    return rgb.max(-1) - rgb.min(-1) > 60


@pytest.mark.slow
def test_a_digits_run_with_eval_explain_shows_maps_beside_its_mistakes(cli, tmp_path):
    runs = tmp_path / "runs"
    refused = cli("train", "digits", "train.epochs=1", "eval.explain=gradcamm", "--runs-dir", runs)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "eval.explain gradcamm: did you mean gradcam" in refused.stderr and not list(runs.glob("digits/*"))

    done = cli("train", "digits", "train.epochs=1", "eval.explain=gradcam", "--runs-dir", runs)
    assert done.returncode == 0, done.stderr
    gallery = np.asarray(Image.open(next(runs.glob("digits/*")) / "artifacts" / "misclassified.png").convert("RGB"))
    assert coloured(gallery).mean() > 0.1  # the grey digits, each beside its coloured map


def test_the_gallery_keeps_the_inputs_of_the_mistakes_it_shows(monkeypatch):
    monkeypatch.setattr(artifacts, "GALLERY", 2)
    kept: dict = {}
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4], [0.05, 0.95], [0.4, 0.6]])
    truth = torch.tensor([1, 1, 0, 1, 0, 1])  # mistakes at 0 (p 0.9), 2 (0.7), 3 (0.6), 4 (0.95)
    images = torch.arange(6.0).view(6, 1, 1, 1)
    for start in (0, 3):
        artifacts.keep_mistakes(kept, probs[start : start + 3], truth[start : start + 3], images[start : start + 3], start)
    assert sorted(kept) == [0, 4] and float(kept[4][1]) == 4.0  # the two most confident mistakes, with their inputs


def test_segmentation_galleries_gain_a_map_column(tmp_path):
    overrides = {"data.num_samples": 16, "data.image_size": 32, "model.depth": 3, "model.widths": [4, 8, 16]}
    widths = {}
    for method in (None, "gradcam"):
        cfg = config.resolve("shapes-unet", {**overrides, "eval.explain": method})
        bundle = data.build(cfg.data, cfg.aug)
        task = tasks.build(cfg, bundle.info)
        torch.manual_seed(0)
        model = task.build_model(cfg, bundle.info).eval()
        fabric = single_device_fabric(cfg)
        loader = make_loader(cfg, bundle.val, fabric, bundle, train=False, sharded=False)
        out = tmp_path / str(method)
        out.mkdir()
        task.finalize(out, predictions(model, loader, task, fabric, cfg), bundle, model)
        gallery = np.asarray(Image.open(out / "worst_val.png").convert("RGB"))
        widths[method] = gallery.shape[1]
    assert widths["gradcam"] == pytest.approx(widths[None] * 4 / 3, rel=0.05)  # image | truth | prediction | map
    quarter = gallery[: int(gallery.shape[0] * 0.9), -gallery.shape[1] // 4 :]  # the map column, above the legend
    assert coloured(quarter).mean() > 0.2
