"""`vislab data check`: datasets written with planted problems (leaks, duplicates, poor and unreadable images,
0/255 and stray-valued masks, mis-sized and palette masks, a domain tree), checked with the real imagehash and
Pillow; one run through the CLI as a user runs it, the rest in-process."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCALE = 4  # digits are 8x8: written 32x32, each pixel a 4x4 block


def write_digits_folder(root: Path, count: int | None = None, exact: int = 10, near: int = 10) -> list[tuple[str, str]]:
    """root/{train,val,test}/<digit>/<i>.png: the first ``count`` digits, split as vislab splits them (seed 0), then
    ``exact`` training images copied into test unchanged and ``near`` re-encoded as JPEG quality 75 one pixel
    wider. Returns the (train file, test file) pairs planted, relative to root."""
    from vislab.data.sources.digits import load_arrays
    from vislab.data.loading.splits import stratified_split

    images, labels = load_arrays()
    images, labels = images[:count].numpy()[:, 0], labels[:count].numpy()
    parts = dict(zip(("train", "val", "test"), stratified_split(labels.tolist(), 0.2, 0.2, 0)))
    names = {}
    for split, idx in parts.items():
        for i in idx:
            name = f"{split}/{labels[i]}/{i}.png"
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[i]).resize((8 * SCALE, 8 * SCALE), Image.NEAREST).save(root / name)
            names.setdefault(split, []).append((i, name))
    planted = []
    for k, (i, name) in enumerate(names["train"][: exact + near]):
        im = Image.open(root / name)
        if k < exact:
            copy = f"test/{labels[i]}/copy{i}.png"
            im.save(root / copy)
        else:
            copy = f"test/{labels[i]}/copy{i}.jpg"
            buffer = io.BytesIO()
            im.resize((im.width + 1, im.height), Image.BILINEAR).save(buffer, "JPEG", quality=75)
            (root / copy).write_bytes(buffer.getvalue())
        planted.append((name, copy))
    return planted


def write_shapes_pairs(root: Path, count: int = 40, binary: tuple[int, ...] = (3, 7, 11),
                       stray: tuple[int, ...] = (5, 9), stray_value: int = 7) -> dict[str, str]:
    """root/{images,masks}/<i>.png: ``count`` shapes scenes (classes 0..3); the masks of ``binary`` saved as
    0/255 (every shape 255) and those of ``stray`` with a patch of ``stray_value``. Returns mask file -> planted
    problem."""
    from vislab.data.sources.shapes import render

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    planted = {}
    for i in range(count):
        image, classes, _ = render(1000 + i, (48, 48))
        if i in binary:
            classes = np.where(classes > 0, 255, 0).astype(np.uint8)
            planted[f"masks/{i}.png"] = "0/255"
        elif i in stray:
            classes = classes.copy()
            classes[:4, :4] = stray_value
            planted[f"masks/{i}.png"] = "stray"
        Image.fromarray(image.transpose(1, 2, 0)).save(root / "images" / f"{i}.png")
        Image.fromarray(classes).save(root / "masks" / f"{i}.png")
    return planted


def noise(rng: np.random.Generator, h: int = 16, w: int = 16) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def write_poor_folder(root: Path) -> None:
    """root/{train,val}/{a,b}/: random RGB images, and in train/a one of each poor kind, a gray one, an unreadable
    file and a copy of a0.png."""
    from PIL import ImageFilter

    rng = np.random.default_rng(0)
    for split, counts in (("train", {"a": 10, "b": 6}), ("val", {"a": 2, "b": 2})):
        for cls, n in counts.items():
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                noise(rng).save(root / split / cls / f"{cls}{i}.png")
    a = root / "train" / "a"
    Image.new("RGB", (16, 16), (0, 0, 0)).save(a / "black.png")
    Image.new("RGB", (16, 16), (255, 255, 255)).save(a / "white.png")
    noise(rng).filter(ImageFilter.GaussianBlur(2)).save(a / "blurry.png")
    noise(rng, 48, 16).save(a / "tall.png")
    noise(rng).convert("L").save(a / "gray.png")
    (a / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    (a / "copy.png").write_bytes((a / "a0.png").read_bytes())


def report_of(out: str) -> Path:
    """The data_report.md named on the summary's last line."""
    line = out.strip().splitlines()[-1]
    assert line.startswith("report: "), out
    return Path(line.removeprefix("report: ").split(", ")[0])


def test_cli_finds_every_planted_leak_and_no_other_pair(tmp_path: Path, cli) -> None:
    """The digits written as a folder, 3 training images copied into test and 3 re-encoded as JPEG q75 a pixel
    wider: --strict exits 1, and the report lists exactly those 6 pairs (no pair among 400 different digits)."""
    root = tmp_path / "digits"
    planted = write_digits_folder(root, count=400, exact=3, near=3)
    runs = tmp_path / "runs"
    result = cli("data", "check", "digits", "data.name=folder", f"data.root={root}", "--strict", env={"VISLAB_RUNS": str(runs)})
    assert result.returncode == 1, result.stderr
    assert "warning: 6 images leak across splits (3 exact, 3 near copies; train/test 6)" in result.stdout
    assert "train classes: 10, imbalance" in result.stdout
    assert "reading images  100% (406/406)" in result.stderr  # the progress a log file gets
    assert "--strict: 6 leaks across splits, 0 masks" in result.stderr and "Traceback" not in result.stderr
    report = report_of(result.stdout)
    assert report.parent.parent == runs / "data_checks"
    rows = [line.split(" | ") for line in report.read_text().splitlines() if line.startswith(("| exact", "| near"))]
    assert sorted((r[2], r[4]) for r in rows) == sorted(planted)
    assert [r[0] for r in rows] == ["| exact"] * 3 + ["| near"] * 3
    assert (report.parent / "leaks.png").is_file()
    assert "data:image/png;base64," in (report.parent / "data_report.html").read_text()
    record = json.loads(next((runs / "data_checks").glob("*.json")).read_text())
    assert record["leaks"] == 6 and record["leak_splits"] == ["train/test"]


def test_masks_are_named_with_the_setting_to_use(tmp_path: Path, main) -> None:
    """shapes as pairs with 3 masks saved as 0/255 and 2 with a stray 7: each named, with its setting; --strict: 1."""
    root = tmp_path / "pairs"
    planted = write_shapes_pairs(root)
    code, out, err = main("data", "check", "shapes-unet", "data.name=pairs", f"data.root={root}", "--strict")
    assert code == 1 and "--strict: 0 leaks across splits, 5 masks" in err
    warnings = [line for line in out.splitlines() if line.startswith("warning: mask ")]
    assert len(warnings) == 5
    for mask, kind in planted.items():
        line = next(w for w in warnings if f"mask {mask} " in w)
        if kind == "0/255":
            assert "holds only 0 and 255; 255 reads as the ignore index" in line and "'data.mask_values={255: C}'" in line
        else:
            assert "holds 7: neither a class id (0..3)" in line and "'data.mask_values={7: 255}'" in line
    text = report_of(out).read_text()
    assert "## Masks: 5 problems" in text and "\n| 3 | " in text  # pixel shares of the 4 classes the masks hold


def test_binary_masks_get_their_mask_values_and_sizes_are_checked(tmp_path: Path, main) -> None:
    """Every mask 0/255: the setting is data.mask_values={0: 0, 255: 1} with 2 classes; a mask of another size than
    its image, a colour mask (which stops training) and a palette mask are named."""
    root = tmp_path / "pairs"
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(8):
        noise(rng, 24, 24).save(root / "images" / f"{i}.png")
        mask = np.zeros((24, 24) if i else (12, 24), np.uint8)
        mask[4:10, 4:10] = 255
        im = Image.fromarray(mask)
        if i == 1:
            im.putpalette([0, 0, 0] * 256)
        (im.convert("RGB") if i == 2 else im).save(root / "masks" / f"{i}.png")
    code, out, _ = main("data", "check", "shapes-unet", "data.name=pairs", f"data.root={root}", "data.val_fraction=0.25")
    assert code == 0
    assert "set 'data.mask_values={0: 0, 255: 1}' data.num_classes=2" in out
    text = report_of(out).read_text()
    assert "| masks/0.png | mask is 12x24, its image 24x24 | save the mask at its image's size |" in text
    assert "1 palette masks (e.g. masks/1.png)" in text
    assert "| masks/2.png | mask " in text and "has colour channels (RGB) | store class ids as a grayscale or palette image |" in text


def test_folder_images_classes_and_duplicates(tmp_path: Path, main) -> None:
    """Poor, odd, unreadable and duplicated images of a folder, named in the report; class counts and the
    imbalance ratio per split."""
    root = tmp_path / "folder"
    write_poor_folder(root)
    code, out, _ = main("data", "check", "digits", "data.name=folder", f"data.root={root}", "data.test_fraction=0", "--strict")
    assert code == 0  # no leak across splits, no mask: --strict passes
    assert "no leaks across splits" in out and "warning: 1 duplicate pairs within splits" in out
    assert "warning: 1 unreadable images" in out
    assert "train classes: 2, imbalance 2.83 (largest / smallest)" in out  # 17 in a (the unreadable too), 6 in b
    text = report_of(out).read_text()

    def rows(name: str) -> str:  # the lines naming an image in the tables of odd, unreadable and poor images
        return "\n".join(line for line in text.split("## Image sizes")[1].splitlines() if f"| train | {name} |" in line)

    assert "near-constant, very dark" in rows("train/a/black.png") and "near-constant, very light" in rows("train/a/white.png")
    assert "blurry" in rows("train/a/blurry.png") and "odd aspect ratio" in rows("train/a/tall.png")
    assert "size 48x16" in rows("train/a/tall.png") and "mode L" in rows("train/a/gray.png")
    assert "cannot identify image file" in rows("train/a/broken.png")
    assert not [f for f in ("a0", "a1", "a2", "b0", "b1") if rows(f"train/a/{f}.png") or rows(f"train/b/{f}.png")]
    assert "| exact | train | train/a/a0.png | train | train/a/copy.png |" in text
    assert "| a | 17 | 2 |" in text and "| imbalance (largest / smallest) | 2.83 | 1.00 |" in text


def test_domain_tree_gets_a_domain_by_class_table(tmp_path: Path, main) -> None:
    root = tmp_path / "domains"
    rng = np.random.default_rng(0)
    for d, domain in enumerate(("art", "photo", "sketch")):
        for c, cls in enumerate(("cat", "dog")):
            (root / domain / cls).mkdir(parents=True)
            for i in range(3 + d + c):
                noise(rng).save(root / domain / cls / f"{i}.png")
    code, out, _ = main("data", "check", "digits-dg", "data.name=domains", f"data.root={root}", "data.test_domain=sketch")
    assert code == 0, out
    text = report_of(out).read_text()
    assert "## Domains x classes (test)" in text and "| sketch | 5 | 6 |" in text.split("## Domains x classes (test)")[1]


def test_embedded_panoptic_data_counts_instances(main) -> None:
    code, out, _ = main("data", "check", "shapes-panoptic", "data.num_samples=40")
    assert code == 0 and "data check of shapes-panoptic: train 40, val 8 images" in out
    text = report_of(out).read_text()
    assert "## Instances" in text and "| circle |" in text and "## Masks: 0 problems" in text


def test_training_repeat_is_read_once(main) -> None:
    """data.repeat passes over the training images in several transforms: each image is checked once, not
    reported as its own duplicate."""
    code, out, _ = main("data", "check", "shapes-unet", "data.num_samples=20", "data.in_memory=false",
                        "data.repeat=[{hflip: 1.0}, {vflip: 1.0}]")
    assert code == 0 and "train 20, val 4 images" in out and "duplicate" not in out


@pytest.mark.parametrize("items, phrase", [
    (["nosuch"], "unknown recipe 'nosuch'"),
    (["digits", "data.nokey=1"], "unknown config key 'data.nokey'"),
    (["digits", "data.name=folder", "data.root=/nonexistent/folder"], "data.root=/nonexistent/folder is not a folder"),
    (["digits", "data.root=/tmp"], "data.root"),  # a key digits does not read
    (["digits", "--out", __file__], "is a file; name a folder for the report"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, main, items: list[str], phrase: str) -> None:
    code, out, err = main("data", "check", *items)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and phrase in err
    assert not (tmp_path / "runs").exists()


def test_without_imagehash_the_pip_line(tmp_path: Path, main, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "imagehash", None)  # what an environment without the extra has
    code, out, err = main("data", "check", "digits")
    assert code == 2 and "pip install 'vislab[data]'" in err and not (tmp_path / "runs").exists()


def test_compare_warns_of_a_leak_the_check_found(tmp_path: Path, main) -> None:
    """A run trained on the leaky folder (its unreadable file skipped): compare's notes (terminal and report) say
    its data leaks."""
    root = tmp_path / "digits"
    write_digits_folder(root, count=300, exact=2, near=0)
    (root / "train" / "0" / "broken.png").write_bytes(b"not a png")
    data = ["digits", "data.name=folder", f"data.root={root}", "data.skip_corrupt=true"]
    assert main("data", "check", *data)[0] == 0
    code, _, err = main("train", *data, "train.epochs=1", "train.limit_batches=2")
    assert code == 0, err
    code, out, _ = main("compare", str(tmp_path / "runs" / "digits"))
    assert code == 0
    assert "Data check: 2 images of the data of" in out and "leak across splits (train/test; e.g. train/" in out
    assert "leak across splits" in (tmp_path / "runs" / "digits" / "report" / "report.md").read_text()
