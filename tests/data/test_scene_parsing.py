"""ADE20K (SceneParsing) and Cityscapes in their real on-disk layouts: class ids as MMSegmentation and
cityscapesScripts define them, the ADE20K archive served by a real HTTP server, and what is missing said."""

from __future__ import annotations

import dataclasses
import re
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from seg_files import scene, write_ade20k, write_cityscapes
from vislab.config import resolve
from vislab.data import build
from vislab.data.sources import ade20k
from vislab.errors import VislabError


def bundle_of(recipe: str, root, **overrides):
    cfg = resolve(recipe, {"data.root": str(root), "aug.random_resize": None, "aug.random_crop": None, **overrides})
    return build(cfg.data, cfg.aug)


def test_ade20k_ignores_other_and_shifts_the_150_classes_down_by_one(tmp_path):
    write_ade20k(tmp_path)
    bundle = bundle_of("ade20k-deeplabv3", tmp_path)
    info = bundle.info
    assert (info.num_classes, info.class_names[0], info.class_names[149], info.ignore_index) == (150, "wall", "flag", 255)
    assert (len(bundle.train), len(bundle.val), bundle.test) == (4, 3, None)
    assert bundle.files["val"][0] == "images/validation/ADE_val_00000001.jpg"
    target = bundle.val[0]["target"]
    _, raw = scene(0, (36, 44), [0, 1, 150])
    assert target.shape == (36, 44) and np.array_equal(target.numpy(), np.select([raw == 0, raw == 1], [255, 0], 149))


def test_ade20k_downloads_its_checked_archive(tmp_path, monkeypatch, server, main):
    write_ade20k(tmp_path / "src")
    archive = tmp_path / "ADEChallengeData2016.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((tmp_path / "src").rglob("*.*")):
            zf.write(path, path.relative_to(tmp_path / "src").as_posix())
    server.files[archive.name] = archive.read_bytes()
    remote = dataclasses.replace(ade20k.ARCHIVE, urls=(server.url(archive.name),))
    monkeypatch.setattr(ade20k, "ARCHIVE", remote)
    data = tmp_path / "data"
    code, _, err = main("train", "ade20k-deeplabv3", f"data.root={data}")
    assert code == 2 and "ADEChallengeData2016.zip is missing and could not be downloaded (" in err and "sha1 differs" in err
    assert not (data / "ADEChallengeData2016").exists() and not list(data.glob("*.part"))
    monkeypatch.setattr(ade20k, "ARCHIVE", dataclasses.replace(remote, sha1=__import__("hashlib").sha1(archive.read_bytes()).hexdigest()))
    assert len(bundle_of("ade20k-deeplabv3", data).train) == 4
    assert re.search(r"\nade20k +present", main("datasets", "--root", data)[1])


def test_ade20k_with_a_missing_or_foreign_annotation_says_so(tmp_path):
    base = write_ade20k(tmp_path)
    (base / "annotations" / "validation" / "ADE_val_00000002.png").unlink()
    with pytest.raises(VislabError, match=r"ADE_val_00000002.jpg has no annotation .*ADE_val_00000002.png; ADE20K under .* is incomplete"):
        bundle_of("ade20k-deeplabv3", tmp_path)
    Image.fromarray(np.full((40, 44), 200, np.uint8)).save(base / "annotations" / "validation" / "ADE_val_00000002.png")
    with pytest.raises(VislabError, match=r"ADE_val_00000002.png holds values 200, not ADE20K's 0..150"):
        bundle_of("ade20k-deeplabv3", tmp_path)


def test_cityscapes_maps_label_ids_to_the_19_train_ids_and_ignores_the_rest(tmp_path):
    write_cityscapes(tmp_path)
    bundle = bundle_of("cityscapes-unet", tmp_path)
    info = bundle.info
    assert info.num_classes == 19 and info.class_names[13] == "car" and info.class_names[18] == "bicycle"
    assert (len(bundle.train), len(bundle.val)) == (4, 2)
    assert bundle.files["train"][0] == "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png"
    _, raw = scene(0, (32, 64), [7, 26, 4, 33])
    expected = np.select([raw == 7, raw == 26, raw == 33], [0, 13, 18], 255)
    assert np.array_equal(bundle.val[0]["target"].numpy(), expected)


def test_cityscapes_is_extracted_from_its_two_zips_and_absent_says_where_to_get_it(tmp_path, main):
    code, _, err = main("train", "cityscapes-unet", f"data.root={tmp_path / 'data'}")
    assert code == 2 and err.count("\n") == 1 and "needs a login" in err
    assert "leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from https://www.cityscapes-dataset.com/downloads/" in err
    assert f"in {tmp_path / 'data' / 'cityscapes'}/" in err
    base = write_cityscapes(tmp_path / "src")
    target = tmp_path / "data" / "cityscapes"
    target.mkdir(parents=True)
    for kind, archive in (("leftImg8bit", "leftImg8bit_trainvaltest.zip"), ("gtFine", "gtFine_trainvaltest.zip")):
        with zipfile.ZipFile(target / archive, "w") as zf:
            zf.writestr("README", "as the real archives have")
            for path in sorted((base / kind).rglob("*.png")):
                zf.write(path, path.relative_to(base).as_posix())
    assert re.search(r"\ncityscapes +present", main("datasets", "--root", tmp_path / "data")[1])
    assert len(bundle_of("cityscapes-unet", tmp_path / "data").train) == 4
    shutil.rmtree(target / "gtFine" / "val")
    (target / "gtFine_trainvaltest.zip").unlink()
    code, _, err = main("train", "cityscapes-unet", f"data.root={tmp_path / 'data'}")
    assert code == 2 and f"{target} lacks gtFine/val" in err


def test_cityscapes_colour_files_in_place_of_label_ids_are_refused(tmp_path):
    base = write_cityscapes(tmp_path, train=2, val=1)
    for mask in base.rglob("*_gtFine_labelIds.png"):
        Image.fromarray(np.full((32, 64), 128, np.uint8)).save(mask)
    with pytest.raises(VislabError, match="holds values 128, not Cityscapes labelIds"):
        bundle_of("cityscapes-unet", tmp_path)
