"""What a user is told about their data, through the CLI with the default display: tiny data in the real formats,
one mistake each, one line that names the file (or class) and the setting that fixes it, exit 2, no run made."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import run_cli
from formats import write_folder
from seg_files import write_coco_panoptic, write_pairs

SMALL_UNET = ["model.depth=2", "model.widths=[4,8]", "train.epochs=1", "train.limit_batches=2", "train.batch_size=4"]


def one_line(proc, runs: Path) -> str:
    """The single stderr line of a refused run, after checking that nothing was made."""
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and proc.stdout == "", proc.stderr
    assert not runs.exists() or not any(runs.rglob("config.yaml"))
    return lines[0]


def test_a_stray_mask_value_is_named_with_the_settings_that_ignore_it(tmp_path: Path):
    root = write_pairs(tmp_path / "pairs", n=6, values=(0, 1))
    mask = np.asarray(Image.open(root / "masks" / "003.png")).copy()
    mask[0, :2] = 7  # two pixels of a value no other mask has: 0 and 1 would become 8 classes
    Image.fromarray(mask).save(root / "masks" / "003.png")
    runs = tmp_path / "runs"
    args = ["train", "shapes-unet", "data.name=pairs", f"data.root={root}", *SMALL_UNET, "--runs-dir", runs]
    line = one_line(run_cli(*args, timeout=300), runs)
    assert line == (
        f"vislab: error: pairs: mask {root / 'masks' / '003.png'} holds 7, which would make 8 classes where the masks "
        "hold none of 2..6; to ignore a stray value set data.num_classes=2 'data.mask_values={7: 255}', "
        "or set data.num_classes=8 if there are that many"
    )
    followed = run_cli(*args, "data.num_classes=2", "data.mask_values={7: 255}", timeout=300)  # the advice works
    assert followed.returncode == 0, followed.stderr[-2000:]
    assert json.loads(next(runs.glob("shapes-unet/*/data_info.json")).read_text())["num_classes"] == 2


def test_a_panoptic_annotation_without_segments_info_names_the_json_and_the_image(tmp_path: Path):
    overrides = write_coco_panoptic(tmp_path / "coco")
    json_path = tmp_path / "coco" / overrides["data.coco_panoptic.train_json"]
    data = json.loads(json_path.read_text())
    del data["annotations"][1]["segments_info"]
    json_path.write_text(json.dumps(data))
    runs = tmp_path / "runs"
    proc = run_cli("train", "shapes-panoptic", "data.name=coco_panoptic", f"data.root={tmp_path / 'coco'}",
                   *(f"{k}={v}" for k, v in overrides.items()), "--runs-dir", runs, timeout=300)
    image = data["images"][1]["file_name"]
    assert one_line(proc, runs) == f"vislab: error: {json_path}: the annotation of image {image} has no segments_info; export it again"


def test_too_many_labels_per_class_names_one_class_its_count_and_the_limit(tmp_path: Path):
    write_folder(tmp_path / "shapes", {"circle": 30, "square": 10})
    runs = tmp_path / "runs"
    proc = run_cli("train", "digits", "data.name=folder", f"data.root={tmp_path / 'shapes'}", "data.labeled_per_class=25",
                   "semisup.method=fixmatch", "--runs-dir", runs, timeout=300)
    line = one_line(proc, runs)
    prefix = "vislab: error: data.labeled_per_class=25: class 1 (square) has only "
    assert line.startswith(prefix), line
    count = int(line[len(prefix):].split()[0])
    assert count < 10 and line.endswith(f"training samples (the fewest of any class); lower it to at most {count}")


def test_runs_last_0_is_refused(tmp_path: Path):
    proc = run_cli("runs", "--last", "0", "--runs-dir", tmp_path / "runs")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "vislab: error: --last N lists the N most recent runs; N must be at least 1, not 0\n"
