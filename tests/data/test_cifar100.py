"""CIFAR-100 from the pickled python batches of cifar-100-python.tar.gz."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np

from formats import accept_cifar100, write_cifar100
from vislab.config import resolve
from vislab.data import build, cifar100


def test_the_archive_is_checked_extracted_and_read(tmp_path, monkeypatch):
    root = tmp_path / "data"
    arrays = write_cifar100(root, n_train=500, n_test=20)
    accept_cifar100(monkeypatch, root)
    cfg = resolve("cifar100-effnetv2", {"data.root": str(root), "aug.resize": None, "aug.random_crop": None})
    bundle = build(cfg.data, cfg.aug)
    assert (root / "cifar100" / "cifar-100-python" / "meta").is_file()
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (400, 100, 20)
    assert bundle.info.class_names[:2] == ["class00", "class01"] and bundle.info.num_classes == 100
    image = bundle.test[5]["image"].numpy()  # [3, 32, 32]: the rows hold the R plane, then G, then B
    assert np.array_equal(image.reshape(-1), arrays["test"][5]) and int(bundle.test[5]["target"]) == 5
    assert bundle.batch_transform is not None  # the recipe's CutMix


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
    assert code == 2 and cifar100.ARCHIVE.name in err and cifar100.ARCHIVE.urls[0] in err
    assert str(tmp_path / "data" / "cifar100") in err


def test_an_archive_with_an_escaping_member_is_not_extracted(main, tmp_path, monkeypatch):
    root = tmp_path / "data"
    write_cifar100(root, n_train=100, n_test=10)
    archive = root / "cifar100" / cifar100.ARCHIVE.name
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    accept_cifar100(monkeypatch, root)
    code, _, err = main("train", "cifar100-effnetv2")
    assert code == 2 and "leading outside" in err and not (tmp_path / "escaped").exists()
