"""Any multi-domain folder (data.name=domains) and DomainBed's datasets in their real layouts, with their
downloads served by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import io
import re
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import pytest

import vislab
from formats import write_folder
from http_server import Server
from vislab.config import resolve
from vislab.data import build
from vislab.data.sources import domainbed
from vislab.errors import VislabError

CLASSES = {"cat": 4, "dog": 4, "horse": 4}
DOMAINS = ("photo", "Sketch 2", "cartoon")  # names as written, spaces and case kept


def write_domains(root: Path, classes=CLASSES, domains=DOMAINS, size=(32, 32)) -> Path:
    for d, domain in enumerate(domains):
        write_folder(root / domain, classes, size=size, ext=".jpg", seed=d)
    return root


def domains(root: Path, **overrides):
    cfg = resolve("digits-dg", {"data.name": "domains", "data.root": str(root), **overrides})
    return build(cfg.data, cfg.aug)


def test_domains_are_discovered_from_the_folders_and_classes_matched_across_them(tmp_path):
    write_domains(tmp_path)
    bundle = domains(tmp_path, **{"data.test_domain": "Sketch 2"})
    assert bundle.info.domains == ["Sketch 2", "cartoon", "photo"]  # sorted, as DomainBed sorts them
    assert bundle.info.class_names == ["cat", "dog", "horse"] and bundle.info.task == "domain_generalization"
    assert sorted(bundle.files["test"]) == sorted(f"Sketch 2/{c}/{i}.jpg" for c in CLASSES for i in range(4))
    assert {f.split("/")[0] for f in bundle.files["train"] + bundle.files["val"]} == {"cartoon", "photo"}
    assert set(bundle.test.extras["domain"].tolist()) == {0}
    mixed = domains(tmp_path, **{"data.protocol": "mixed", "data.val_fraction": 0.25})
    assert Counter(f.split("/")[0] for f in mixed.files["val"]) == {d: 3 for d in DOMAINS}  # 1 per class


def test_a_missing_class_is_bad_input_naming_it_unless_allowed(tmp_path):
    write_domains(tmp_path)
    write_folder(tmp_path / "photo", {"zebra": 3}, size=(32, 32), ext=".jpg")
    with pytest.raises(VislabError, match=r"Sketch 2 lacks the class zebra that domain photo has; .*data.allow_missing_classes=true"):
        domains(tmp_path)
    bundle = domains(tmp_path, **{"data.allow_missing_classes": True, "data.protocol": "mixed"})
    assert bundle.info.class_names == ["cat", "dog", "horse", "zebra"]
    zebra = [f for f in bundle.files["train"] + bundle.files["val"] if "/zebra/" in f]
    assert {f.split("/")[0] for f in zebra} == {"photo"} and len(zebra) == 3


@pytest.mark.parametrize("layout, message", [
    ("one", "needs at least two domain folders in .* found 1; for one domain use data.name=folder"),
    ("flat", "holds images, not class folders: data.name=domains reads root/<domain>/<class>/<image>"),
    ("empty", "domain folder .*cartoon holds no class folders"),
])
def test_wrong_trees_are_bad_input(tmp_path, main, layout, message):
    tree = tmp_path / "tree"
    if layout == "one":
        write_folder(tree / "photo", CLASSES, ext=".jpg")
    elif layout == "flat":
        write_folder(tree, CLASSES, ext=".jpg")
    else:
        write_domains(tree, domains=("photo", "sketch"))
        (tree / "cartoon").mkdir()
    code, _, err = main("train", "digits-dg", "data.name=domains", f"data.root={tree}", "--runs-dir", tmp_path / "runs")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert re.search(message, err), err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_a_domain_generalization_recipe_trains_on_any_domain_folder_with_metrics_per_domain(tmp_path):
    write_domains(tmp_path / "tree")
    run = vislab.train("digits-dg", runs_dir=tmp_path / "runs", **{
        "data.name": "domains", "data.root": str(tmp_path / "tree"), "data.test_domain": "Sketch 2",
        "data.sampler": "domain_balanced", "train.batch_size": 4, "train.epochs": 1, "train.progress": False})
    metrics = run.summary["metrics"]
    assert 0 <= metrics["test_acc_Sketch 2"] <= 1 and "val_acc_photo" in metrics and "val_acc_Sketch 2" not in metrics


# ---------------------------------------------------------------------------------------------------
# DomainBed's datasets
# ---------------------------------------------------------------------------------------------------


def images_in(tree: Path) -> dict[str, bytes]:
    return {p.relative_to(tree).as_posix(): p.read_bytes() for p in sorted(tree.rglob("*.jpg"))}


def pacs_zip(tmp_path: Path, domains=domainbed.SETS["pacs"].domains) -> bytes:
    """PACS.zip as DomainBed's Google Drive copy holds it: kfold/<domain>/<class>/*.jpg."""
    for domain in domains:
        write_folder(tmp_path / "src" / "kfold" / domain, {"dog": 2, "guitar": 2}, size=(16, 16), ext=".jpg")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, payload in images_in(tmp_path / "src").items():
            zf.writestr(name, payload)
    return out.getvalue()


def serve(monkeypatch, server: Server, name: str) -> None:
    spec = domainbed.SETS[name]
    archives = tuple(dataclasses.replace(r, urls=(server.url(r.name),)) for r in spec.archives)
    monkeypatch.setitem(domainbed.SETS, name, dataclasses.replace(spec, archives=archives))


def test_pacs_downloads_extracts_and_lays_out_its_domains(tmp_path, monkeypatch, server, main):
    server.files["PACS.zip"] = pacs_zip(tmp_path)
    serve(monkeypatch, server, "pacs")
    data = tmp_path / "data"
    assert "pacs             missing" in main("datasets", "--root", data)[1]
    cfg = resolve("officehome-erm", {"data.name": "pacs", "data.root": str(data), "data.val_fraction": 0.5})
    bundle = build(cfg.data, cfg.aug)
    assert bundle.info.domains == ["art_painting", "cartoon", "photo", "sketch"] and bundle.info.class_names == ["dog", "guitar"]
    assert sorted(p.name for p in data.iterdir()) == ["PACS"]  # archive and staging folder gone
    assert len(images_in(data / "PACS")) == 16 and server.requests == ["PACS.zip"]
    assert "pacs             present" in main("datasets", "--root", data)[1]


def test_damaged_or_incomplete_archives_are_bad_input_and_leave_no_dataset(tmp_path, monkeypatch, server, main):
    serve(monkeypatch, server, "pacs")
    data = tmp_path / "data"
    server.files["PACS.zip"] = b"<html>quota exceeded</html>"  # what Google Drive answers some days
    code, _, err = main("train", "officehome-erm", "data.name=pacs", f"data.root={data}", "--runs-dir", tmp_path / "runs")
    assert code == 2 and "is not a readable tar or zip archive" in err and "delete it and download it again" in err
    assert not (data / "PACS").exists()
    (data / "PACS.zip").write_bytes(pacs_zip(tmp_path, domains=("cartoon", "photo")))
    code, _, err = main("train", "officehome-erm", "data.name=pacs", f"data.root={data}", "--runs-dir", tmp_path / "runs")
    assert code == 2 and f"PACS.zip in {data} do not hold kfold/art_painting; delete them" in err
    assert sorted(p.name for p in data.iterdir()) == ["PACS.zip"]


def test_vlcs_and_domainnet_from_their_archives(tmp_path, monkeypatch, server):
    tree = tmp_path / "src"
    for domain in domainbed.SETS["vlcs"].domains:
        write_folder(tree / "VLCS" / domain, {"bird": 2, "car": 2}, size=(16, 16), ext=".jpg")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        tar.add(tree / "VLCS", arcname="VLCS")
    server.files["VLCS.tar.gz"] = out.getvalue()
    for domain in domainbed.SETS["domainnet"].domains:  # one zip per domain, <domain>/<class>/*.jpg
        write_folder(tmp_path / domain / domain, {"aircraft_carrier": 2, "zebra": 2}, size=(16, 16), ext=".jpg")
        payload = io.BytesIO()
        with zipfile.ZipFile(payload, "w") as zf:
            for name, body in images_in(tmp_path / domain).items():
                zf.writestr(name, body)
        server.files[f"{domain}.zip"] = payload.getvalue()
    for name in ("vlcs", "domainnet"):
        serve(monkeypatch, server, name)
        cfg = resolve("officehome-erm", {"data.name": name, "data.root": str(tmp_path / "data"), "data.val_fraction": 0.5})
        bundle = build(cfg.data, cfg.aug)
        assert bundle.info.domains == list(domainbed.SETS[name].domains)
    assert len(images_in(tmp_path / "data" / "domain_net")) == 24 and len(images_in(tmp_path / "data" / "VLCS")) == 16


def test_offline_datasets_say_what_to_put_where(tmp_path, main):
    data = tmp_path / "data"
    code, _, err = main("train", "officehome-erm", "data.name=pacs", "data.download=false", f"data.root={data}")
    assert code == 2 and f"PACS.zip missing from {data} (data.download=false)" in err and f"put them in {data}" in err
    code, _, err = main("train", "officehome-erm", "data.name=terra_incognita", "data.download=false", f"data.root={data}")
    assert code == 2 and "eccv_18_all_images_sm.tar.gz, caltech_camera_traps.json.zip missing from" in err
    assert "https://lila.science/datasets/caltech-camera-traps" in err
    out = main("datasets", "--root", data)[1]
    assert "terra_incognita  missing  location_100/location_38/location_43/location_46/<class>/*" in out
    assert "domains          yours" in out


def test_terra_incognita_is_selected_from_caltech_camera_traps_as_domainbed_does(tmp_path, monkeypatch, server):
    """Images of the four locations and ten classes, from the images archive and the annotation JSON."""
    from PIL import Image

    kinds = {"a": ("38", ["dog"]), "b": ("38", ["empty"]), "c": ("100", ["bobcat", "dog"]), "d": ("43", ["dog"]),
             "e": ("46", ["empty"]), "f": ("46", ["dog"]), "g": ("43", ["empty"]), "h": ("100", ["empty"]),
             "i": ("7", ["dog"]), "j": ("38", ["deer"])}  # i: another location, j: another class; both left out
    images = {f"{k}{n}.jpg": v for k, v in kinds.items() for n in (1, 2)}  # two of each: one to validate on
    src = tmp_path / "src" / "eccv_18_all_images_sm"
    src.mkdir(parents=True)
    for name in images:
        Image.new("RGB", (16, 16), (len(name) * 40, 0, 0)).save(src / name)
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:gz") as tar:
        tar.add(src, arcname="eccv_18_all_images_sm")
    cats = {"dog": 1, "empty": 2, "bobcat": 3, "deer": 4}
    annotations = [{"image_id": n, "category_id": cats[c]} for n, (_, cs) in images.items() for c in cs]
    listing = {"images": [{"id": n, "file_name": n, "location": loc} for n, (loc, _) in images.items()],
               "annotations": annotations, "categories": [{"id": i, "name": c} for c, i in cats.items()]}
    json_zip = io.BytesIO()
    with zipfile.ZipFile(json_zip, "w") as zf:
        zf.writestr("caltech_images_20210113.json", __import__("json").dumps(listing))
    server.files["eccv_18_all_images_sm.tar.gz"] = tar_bytes.getvalue()
    server.files["caltech_camera_traps.json.zip"] = json_zip.getvalue()
    serve(monkeypatch, server, "terra_incognita")
    data = tmp_path / "data"
    cfg = resolve("officehome-erm", {"data.name": "terra_incognita", "data.root": str(data), "data.val_fraction": 0.5,
                                     "data.allow_missing_classes": True})
    bundle = build(cfg.data, cfg.aug)
    assert bundle.info.domains == ["location_100", "location_38", "location_43", "location_46"]
    assert bundle.info.class_names == ["bobcat", "dog", "empty"]
    assert sorted(images_in(data / "terra_incognita")) == [f"{place}{n}.jpg" for place in (
        "location_100/bobcat/c", "location_100/dog/c", "location_100/empty/h", "location_38/dog/a",
        "location_38/empty/b", "location_43/dog/d", "location_43/empty/g", "location_46/dog/f",
        "location_46/empty/e") for n in (1, 2)]
    assert sorted(p.name for p in data.iterdir()) == ["terra_incognita"]
