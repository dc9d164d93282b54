"""vislab predict on validation images gives exactly the predictions vislab eval makes for them: the same
resize, normalization, channels and padding, whether the images come from memory or from files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import vislab
from vislab import tasks
from vislab.engine import make_loader, predictions
from vislab.inference import restore


def eval_outputs(run: vislab.Run) -> tuple[list[torch.Tensor], list[dict]]:
    """What vislab eval computes its metrics from: the task's outputs over the validation split, in order,
    and the raw validation samples (uint8 images as the dataset holds them)."""
    r = restore(run)
    task = tasks.build(r.cfg, r.info)
    loader = make_loader(r.cfg, r.bundle.val, r.fabric, r.bundle, train=False)
    outputs = [(out if torch.is_tensor(out) else out["out"]).cpu() for out, _ in predictions(r.model, loader, task, r.fabric, r.cfg)]
    return outputs, [r.bundle.val[i] for i in range(len(r.bundle.val))]


def save_pngs(samples: list[dict], folder: Path) -> list[Path]:
    folder.mkdir()
    paths = []
    for i, sample in enumerate(samples):
        image = sample["image"].permute(1, 2, 0).numpy()
        paths.append(folder / f"{i:04d}.png")
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(paths[-1])
    return paths


def test_classification_predict_matches_eval_on_validation_images(main, digits_run, tmp_path):
    logits, samples = eval_outputs(digits_run)
    probs = torch.cat(logits).softmax(1)
    save_pngs(samples, tmp_path / "val")
    code, _, err = main("predict", digits_run.dir, tmp_path / "val", "--topk", 1, "--out", tmp_path / "pred.csv")
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "pred.csv")))
    assert len(rows) == len(samples) == len(probs)
    assert [int(r["class_1"]) for r in rows] == probs.argmax(1).tolist()
    assert np.allclose([float(r["prob_1"]) for r in rows], probs.max(1).values.numpy(), atol=1e-6)


def test_segmentation_predict_matches_eval_on_validation_images(main, panoptic_run, tmp_path):
    logits, samples = eval_outputs(panoptic_run)
    classes = torch.cat(logits).max(1).indices
    paths = save_pngs(samples, tmp_path / "val")
    code, _, err = main("predict", panoptic_run.dir, tmp_path / "val", "--out", tmp_path / "pred")
    assert code == 0, err
    for path, expected in zip(paths, classes):
        mask = np.asarray(Image.open(tmp_path / "pred" / f"{path.stem}_mask.png"))
        assert mask.shape == (60, 60) and np.array_equal(mask, expected.numpy()), path.name
