"""CIFAR-10 and CIFAR-100 from the pickled python batches of their archives."""

from __future__ import annotations

import io
import pickle
import re
import tarfile

import numpy as np

from formats import accept_cifar, write_cifar
from vislab.config import resolve
from vislab.data import build
from vislab.data.sources import cifar


def test_the_archive_is_checked_extracted_and_read(tmp_path, monkeypatch):
    root = tmp_path / "data"
    arrays = write_cifar(root, "cifar100", n_train=500, n_test=20)
    accept_cifar(monkeypatch, root)
    cfg = resolve("cifar100-effnetv2", {"data.root": str(root), "aug.resize": None, "aug.random_crop": None})
    bundle = build(cfg.data, cfg.aug)
    assert (root / "cifar100" / "cifar-100-python" / "meta").is_file()
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (400, 100, 20)
    assert bundle.info.class_names[:2] == ["class00", "class01"] and bundle.info.num_classes == 100
    image = bundle.test[5]["image"].numpy()  # [3, 32, 32]: the rows hold the R plane, then G, then B
    assert np.array_equal(image.reshape(-1), arrays["test"][5]) and int(bundle.test[5]["target"]) == 5
    assert bundle.batch_transform is not None  # the recipe's CutMix


def test_cifar10_reads_its_five_training_batches_in_order_and_its_label_names(tmp_path, monkeypatch, main):
    root = tmp_path / "data"
    arrays = write_cifar(root, "cifar10", n_train=100, n_test=20)
    assert re.search(r"\ncifar10 +present", main("datasets", "--root", root)[1])
    accept_cifar(monkeypatch, root, "cifar10")
    cfg = resolve("cifar10-resnet18", {"data.root": str(root), "data.in_memory": False})
    bundle = build(cfg.data, cfg.aug)
    assert sorted(p.name for p in (root / "cifar10" / "cifar-10-batches-py").iterdir()) == [
        "batches.meta", "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (80, 20, 20) and bundle.info.num_classes == 10
    assert bundle.info.class_names[9] == "class09" and bundle.info.image_size == (32, 32)
    image = bundle.test[7]["image"].numpy()
    assert np.array_equal(image.reshape(-1), arrays["test"][7]) and int(bundle.test[7]["target"]) == 7
    files = {b: cifar.read_batch(root / "cifar10" / "cifar-10-batches-py" / b) for b in ("data_batch_1", "data_batch_5")}
    assert files["data_batch_1"]["labels"][:3] == [0, 1, 2] and files["data_batch_5"]["labels"][-1] == 99 % 10


def test_a_truncated_cifar10_archive_is_refused_by_its_size(tmp_path, main):
    root = tmp_path / "data"
    write_cifar(root, "cifar10", n_train=20, n_test=5)
    code, _, err = main("train", "cifar10-resnet18", f"data.root={root}")
    assert code == 2 and "cifar-10-python.tar.gz is damaged (size" in err and "expected 170498071" in err


def test_a_batch_that_would_run_code_is_refused(main, tmp_path):
    folder = tmp_path / "data" / "cifar100" / "cifar-100-python"
    folder.mkdir(parents=True)

    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    for name in ("train", "test"):
        (folder / name).write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"fine_labels": [0]}))
    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": Exploit()}))
    code, out, err = main("train", "cifar100-effnetv2")
    assert code == 2 and "meta is not a readable CIFAR batch" in err and "pwned" not in out


def test_offline_and_absent_names_the_archive_url_and_folder(main, tmp_path):
    code, _, err = main("train", "cifar100-effnetv2", "data.download=false")
    archive = cifar.SETS["cifar100"].archive
    assert code == 2 and archive.name in err and archive.urls[0] in err
    assert str(tmp_path / "data" / "cifar100") in err
    code, _, err = main("train", "cifar10-resnet18", "data.download=false")
    assert code == 2 and "cifar-10-python.tar.gz is missing" in err and str(tmp_path / "data" / "cifar10") in err


def test_an_archive_with_an_escaping_member_is_not_extracted(main, tmp_path, monkeypatch):
    root = tmp_path / "data"
    write_cifar(root, "cifar100", n_train=100, n_test=10)
    archive = root / "cifar100" / cifar.SETS["cifar100"].archive.name
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    accept_cifar(monkeypatch, root)
    code, _, err = main("train", "cifar100-effnetv2")
    assert code == 2 and "leading outside" in err and not (tmp_path / "escaped").exists()
