"""After training: predict on image files, ensembles of runs, and the augmentation preview."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vislab
from vislab.data.sources.digits import load_arrays

QUICK = {"train.epochs": 1, "train.progress": False}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[vislab.Run]:
    """Two digits runs that differ only in their training seed."""
    where = tmp_path_factory.mktemp("runs")
    return [vislab.train("digits", runs_dir=where, **QUICK, **{"train.seed": seed}) for seed in (0, 1)]


def digit_pngs(folder: Path, count: int = 20) -> list[int]:
    """The first digits as 8x8 gray PNGs (the size and kind the runs trained on); returns their labels."""
    images, labels = load_arrays()
    folder.mkdir()
    for i in range(count):
        Image.fromarray(images[i, 0].numpy(), "L").save(folder / f"{i}.png")
    return labels[:count].tolist()


def test_predict_writes_classes_and_probabilities(main, runs, tmp_path):
    labels = digit_pngs(tmp_path / "digits")
    Image.new("RGB", (40, 30), "white").save(tmp_path / "photo.jpg")  # another size and colour: converted
    code, out, err = main("predict", runs[0].dir, tmp_path / "digits", tmp_path / "photo.jpg", "--topk", 3,
                          "--out", tmp_path / "preds.csv")
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "preds.csv")))
    assert [Path(r["file"]).name for r in rows] == sorted(f"{i}.png" for i in range(20)) + ["photo.jpg"]
    assert list(rows[0]) == ["file", "class_1", "prob_1", "class_2", "prob_2", "class_3", "prob_3"]
    probs = np.array([[float(r[f"prob_{k}"]) for k in (1, 2, 3)] for r in rows])
    assert (np.diff(probs, axis=1) <= 0).all() and (probs.sum(1) <= 1 + 1e-6).all()
    truth = {f"{i}.png": y for i, y in enumerate(labels)}
    assert sum(int(r["class_1"]) == truth.get(Path(r["file"]).name) for r in rows) >= 14  # most are right
    assert f"0.png: {rows[0]['class_1']} " in out
    # alone, the digits are one batch of one size; above, the photo made their batch go image by image
    assert main("predict", runs[0].dir, tmp_path / "digits", "--topk", 3, "--out", tmp_path / "alone.csv")[0] == 0
    alone = list(csv.DictReader(open(tmp_path / "alone.csv")))
    assert [[r[k] for k in r if k != "file"] for r in alone] == [[r[k] for k in r if k != "file"] for r in rows[:20]]


def test_predict_refuses_what_it_cannot_use(main, runs, tmp_path):
    (tmp_path / "bad.png").write_text("not an image")
    code, _, err = main("predict", runs[0].dir, tmp_path / "bad.png")
    assert code == 2 and "cannot read image" in err and "bad.png" in err
    code, _, err = main("predict", runs[0].dir, tmp_path / "missing.png")
    assert code == 2 and "does not exist" in err


def test_ensemble_reports_members_and_their_vote(main, runs):
    code, out, err = main("ensemble", runs[0].dir, runs[1].dir, "--split", "test")
    assert code == 0, err
    reported = [float(line.split()[1]) for line in out.splitlines() if line.strip().startswith("acc")]
    expected = [json.loads((r.dir / "summary.json").read_text())["metrics"]["test_acc"] for r in runs]
    assert reported[:2] == pytest.approx(expected, abs=5e-5)  # each member as its own run measured it
    assert "ensemble (soft vote, 2 runs)" in out and 0.7 < reported[2] <= 1.0
    same = vislab.ensemble([runs[0].dir, runs[0].dir], vote="hard")
    assert same["ensemble"]["acc"] == same["members"][0]["acc"]  # a run voting with itself changes nothing


def test_runs_on_other_splits_cannot_vote_together(main, runs, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(runs[1].dir, other)  # the same run, as if it had been trained on another split
    config = (other / "config.yaml").read_text()
    (other / "config.yaml").write_text(config.replace("split_seed: 0", "split_seed: 7"))
    code, _, err = main("ensemble", runs[0].dir, other)
    assert code == 2 and "do not share the val split" in err


def test_augment_saves_originals_beside_augmented_samples(main, tmp_path):
    code, out, err = main("augment", "digits", "aug.rotation=30", "aug.cutmix={p: 1.0}", "--count", 4,
                          "--out", tmp_path / "grid.png")
    assert code == 0, err
    with Image.open(tmp_path / "grid.png") as img:
        assert img.format == "PNG" and img.size[0] > img.size[1] > 100  # 4 pairs side by side in one row
    code, _, err = main("augment", "digits", "aug.rotation=fast")
    assert code == 2 and "aug.rotation" in err


@pytest.mark.parametrize("recipe", ["shapes-unet", "shapes-panoptic"])
def test_augment_shows_segmentation_masks_over_their_images(main, tmp_path, recipe):
    code, out, err = main("augment", recipe, "data.num_samples=8", "aug.rotation=20", "--count", 2,
                          "--out", tmp_path / "grid.png")
    assert code == 0, err
    assert out.strip() == f"wrote {tmp_path / 'grid.png'}"
    with Image.open(tmp_path / "grid.png") as img:
        assert img.format == "PNG" and img.size[0] > 3 * img.size[1]  # 2 samples: original | augmented, a row


def test_domain_generalization_runs_vote_through_their_class_head(main, tmp_path):
    tiny = {"train.epochs": 1, "train.limit_batches": 3, "train.progress": False}
    members = [vislab.train("digits-dg", runs_dir=tmp_path / "runs", **tiny, **{"train.seed": s}) for s in (0, 1)]
    code, out, err = main("ensemble", *[m.dir for m in members], "--split", "test")
    assert code == 0, err
    reported = [float(line.split()[1]) for line in out.splitlines() if line.strip().startswith("acc")]
    assert reported[:2] == pytest.approx([m.summary["metrics"]["test_acc"] for m in members], abs=5e-5)
    assert "ensemble (soft vote, 2 runs)" in out and len(reported) == 3


def rgb_class_folders(root: Path, per_class: int = 15) -> Path:
    """Two classes of 8x8 colour images (reddish, bluish) as root/<class>/<i>.png."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(["red", "blue"]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 120, (8, 8, 3), dtype=np.uint8)
            pixels[..., 0 if c == 0 else 2] += 120
            Image.fromarray(pixels, "RGB").save(root / name / f"{i}.png")
    return root


def test_every_evaluation_batch_follows_the_runs_channels_last_layout(main, tmp_path, monkeypatch):
    import torch

    import vislab.inference as inference

    overrides = {"data.name": "folder", "data.root": str(rgb_class_folders(tmp_path / "images")), "train.channels_last": True}
    run = vislab.train("digits", runs_dir=tmp_path / "runs", **QUICK, **overrides)
    seen: list[bool] = []  # per forward: was the batch in the layout the model was restored in
    restore = inference.restore

    def watched(*args, **kwargs):
        r = restore(*args, **kwargs)
        r.model.register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0].is_contiguous(memory_format=torch.channels_last)))
        return r

    monkeypatch.setattr(inference, "restore", watched)
    for verb in (["eval", run.dir], ["calibrate", run.dir], ["ensemble", run.dir, run.dir]):  # records, temperature, vote
        seen.clear()
        code, _, err = main(*verb)
        assert code == 0, err
        assert seen and all(seen), f"vislab {verb[0]}: {seen.count(False)} of {len(seen)} batches not channels_last"


def test_eval_takes_panoptic_grouping_keys_for_panoptic_runs_and_says_why_not_for_others(cli, tmp_path):
    small = ["train.epochs=1", "train.limit_batches=1", "data.num_samples=12", "data.image_size=[32,32]",
             "train.batch_size=4", "model.widths=[4,8,16,32]", "--runs-dir", tmp_path / "runs"]
    runs = {}
    for recipe in ("shapes-panoptic", "shapes-unet"):
        trained = cli("train", recipe, *small)
        assert trained.returncode == 0, trained.stderr
        runs[recipe] = next((tmp_path / "runs" / recipe).iterdir())
    evaluated = cli("eval", runs["shapes-panoptic"], "eval.panoptic.threshold=0.3", "eval.panoptic.stuff_area=5")
    assert evaluated.returncode == 0, evaluated.stderr
    saved = json.loads((runs["shapes-panoptic"] / "eval_val_best.json").read_text())
    assert saved["panoptic"]["threshold"] == 0.3 and saved["panoptic"]["stuff_area"] == 5 and "val_pq" in saved
    refused = cli("eval", runs["shapes-unet"], "eval.panoptic.threshold=0.3")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "config key eval.panoptic.threshold does nothing for evaluating a segmentation run" in refused.stderr
    assert not (runs["shapes-unet"] / "eval_val_best.json").exists()


def test_predict_takes_overrides_as_eval_does_and_skips_unreadable_images(cli, runs, tmp_path):
    digit_pngs(tmp_path / "digits", 5)
    (tmp_path / "digits" / "bad.png").write_text("not an image")
    result = cli("predict", runs[0].dir, tmp_path / "digits", "data.skip_corrupt=true", "--out", tmp_path / "a.csv")
    assert result.returncode == 0, result.stderr
    assert [Path(r["file"]).name for r in csv.DictReader(open(tmp_path / "a.csv"))] == [f"{i}.png" for i in range(5)]
    assert f"vislab: skipped 1 unreadable image (data.skip_corrupt): {tmp_path / 'digits' / 'bad.png'}" in result.stderr
    old_way = cli("predict", runs[0].dir, tmp_path / "digits", "--set", "data.skip_corrupt=true", "--out", tmp_path / "b.csv")
    assert old_way.returncode == 0, old_way.stderr
    assert (tmp_path / "b.csv").read_text() == (tmp_path / "a.csv").read_text()
    assert "--set is deprecated; give overrides as key=value: vislab predict RUN_DIR IMAGES data.skip_corrupt=true" in old_way.stderr
    stopped = cli("predict", runs[0].dir, tmp_path / "digits")
    assert stopped.returncode == 2 and "cannot read image" in stopped.stderr and "bad.png" in stopped.stderr


NO_TORCH = """
import sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "lightning_fabric"):
            raise ImportError(f"{name} imported before the arguments were checked")

sys.meta_path.insert(0, NoTorch())
"""


def test_predict_checks_topk_and_out_before_loading_anything(cli, runs, tmp_path):
    import os

    from conftest import SRC

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(NO_TORCH)
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(SRC)])}
    digit_pngs(tmp_path / "digits", 2)
    (tmp_path / "notes.txt").write_text("a file")
    cases = [
        (["--topk", 0], "--topk must be at least 1, not 0"),
        (["--out", tmp_path / "notes.txt" / "preds.csv"], f"cannot write --out {tmp_path / 'notes.txt' / 'preds.csv'}: "
                                                          f"{tmp_path / 'notes.txt'} is a file, not a folder"),
    ]
    for args, message in cases:
        result = cli("predict", runs[0].dir, tmp_path / "digits", *args, env=env)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert message in result.stderr


def test_compare_reads_runs_without_importing_torch(cli, runs, tmp_path):
    """`vislab compare` (and the board, which shares its comparison) reads run files: it starts in about a second
    where importing torch and torchvision took four."""
    import os

    from conftest import SRC

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(NO_TORCH)
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(SRC)])}
    result = cli("compare", runs[0].dir, runs[1].dir, "--out", tmp_path / "report", env=env)
    assert result.returncode == 0, result.stderr
    assert "| all runs | 2 |" in result.stdout and (tmp_path / "report" / "report.html").is_file()
