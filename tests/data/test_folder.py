"""Image folders: layouts, the seeded split saved in the run directory, channels, sizes, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from formats import write_folder
from vislab.config import resolve
from vislab.data import MemoryDataset, build

CLASSES = {"cat": 10, "dog": 10, "eel": 5}


def folder_bundle(root: Path, **overrides):
    cfg = resolve("digits", {"data.name": "folder", "data.root": str(root), **overrides})
    return build(cfg.data, cfg.aug)


def test_training_saves_the_stratified_split_and_counts_skipped_files(main, tmp_path):
    root = tmp_path / "pets"
    write_folder(root, CLASSES)
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "cat" / "notes.txt").write_text("not an image")
    code, out, err = main("train", "digits", "data.name=folder", f"data.root={root}", "data.skip_corrupt=true",
                          "train.epochs=1", "train.limit_batches=1", "train.progress=false")
    assert code == 0, err
    assert "skipped 1 unreadable images and 1 other files" in err
    run = Path(out.split("run directory: ")[1].split()[0])
    splits = {s: (run / "splits" / f"{s}.txt").read_text().split() for s in ("train", "val", "test")}
    assert sorted(sum(splits.values(), [])) == sorted(f"{c}/{i}.png" for c, n in CLASSES.items() for i in range(n))
    assert [sum(f.startswith("eel/") for f in splits[s]) for s in ("train", "val", "test")] == [3, 1, 1]
    assert json.loads((run / "summary.json").read_text())["data_notes"] == [
        f"skipped 1 unreadable images and 1 other files in {root}"
    ]
    again = folder_bundle(root, **{"data.skip_corrupt": True})
    assert again.files == splits  # same files and seed: the same split, in the same order
    assert isinstance(again.train, MemoryDataset) and again.info.class_names == ["cat", "dog", "eel"]
    write_folder(root, {"eel": 6}, seed=9)  # one more eel: resuming would see another split
    code, _, err = main("train", "--resume", run, "train.epochs=2")
    assert code == 2 and "the data changed since" in err and "splits/train.txt" in err


def test_a_class_with_a_single_image_is_named_in_a_warning(tmp_path):
    write_folder(tmp_path / "d", {"a": 6, "b": 6, "c": 1})
    bundle = folder_bundle(tmp_path / "d")
    assert sorted(bundle.files["train"]).count("c/0.png") == 1  # its only image trains
    assert bundle.notes == ["class c has a single image: it trains, and no validation image measures it"]


def test_train_val_test_folders_are_used_as_they_are(tmp_path):
    for split, n in (("train", 4), ("val", 2), ("test", 1)):
        write_folder(tmp_path / "d" / split, {"a": n, "b": n}, seed=n)
    bundle = folder_bundle(tmp_path / "d", **{"data.in_memory": False})
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (8, 4, 2)
    assert sorted(bundle.files["val"]) == ["val/a/0.png", "val/a/1.png", "val/b/0.png", "val/b/1.png"]
    assert bundle.train[(0, 1)]["image"].shape == (3, 12, 10)


def test_channels_follow_the_images_or_the_setting(tmp_path):
    write_folder(tmp_path / "mixed", {"a": 5}, mode="L")
    write_folder(tmp_path / "mixed", {"b": 5}, mode="RGB", ext=".jpg")
    assert folder_bundle(tmp_path / "mixed").info.channels == 3  # any colour image makes the folder RGB
    gray = folder_bundle(tmp_path / "mixed", **{"data.channels": 1})
    assert gray.info.channels == 1 and gray.train[0]["image"].shape == (1, 12, 10)


def test_mixed_sizes_need_a_resize(main, tmp_path):
    write_folder(tmp_path / "m", {"a": 5}, size=(12, 10))
    write_folder(tmp_path / "m", {"b": 5}, size=(20, 16), seed=1)
    code, _, err = main("train", "digits", "data.name=folder", f"data.root={tmp_path / 'm'}")
    assert code == 2 and "different sizes" in err and "aug.resize" in err
    bundle = folder_bundle(tmp_path / "m", **{"aug.resize": [16, 16]})
    assert not isinstance(bundle.train, MemoryDataset) and bundle.info.image_size == (16, 16)


def truncated(root: Path) -> str:
    path = root / "cat" / "0.png"
    path.write_bytes(path.read_bytes()[:60])
    return "cat/0.png"


def text_as_png(root: Path) -> str:
    (root / "dog" / "fake.png").write_text("just text")
    return "dog/fake.png"


def text_file(root: Path) -> str:
    (root / "dog" / "readme.txt").write_text("just text")
    return "dog/readme.txt"


def empty_class(root: Path) -> str:
    (root / "fox").mkdir()
    return "fox"


@pytest.mark.parametrize("damage", [truncated, text_as_png, text_file, empty_class])
def test_bad_folders_stop_before_a_run_directory_exists(main, tmp_path, damage):
    root = tmp_path / "pets"
    write_folder(root, CLASSES)
    named = damage(root)
    code, _, err = main("train", "digits", "data.name=folder", f"data.root={root}")
    assert code == 2 and str(root / named) in err and "Traceback" not in err
    assert not (tmp_path / "runs" / "digits").exists()


def test_an_empty_folder_is_bad_input(main, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = main("train", "digits", "data.name=folder", f"data.root={tmp_path / 'empty'}")
    assert code == 2 and "holds no class folders" in err


def test_image_sizes_are_read_through_pil(tmp_path):
    write_folder(tmp_path / "w", {"a": 5, "b": 5}, size=(9, 7), ext=".webp")
    bundle = folder_bundle(tmp_path / "w")
    assert bundle.info.image_size == (9, 7)
    with Image.open(tmp_path / "w" / "a" / "0.webp") as img:
        assert img.size == (7, 9)


def test_datasets_says_a_folder_dataset_is_the_users_to_name(main, tmp_path):
    code, out, _ = main("datasets", "--root", tmp_path)
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert code == 0 and lines["folder"] == "yours" and lines["pairs"] == "yours" and lines["digits"] == "present"
