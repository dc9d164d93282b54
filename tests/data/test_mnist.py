"""MNIST and Fashion-MNIST from their real files (gzipped IDX), checked against the published checksums."""

from __future__ import annotations

import dataclasses

import numpy as np

from formats import accept_mnist, write_mnist
from vislab.config import resolve
from vislab.data import build
from vislab.data.sources import mnist


def test_idx_files_load_into_train_val_and_the_official_test_split(tmp_path, monkeypatch):
    arrays = write_mnist(tmp_path / "data", n_train=200, n_test=30)
    accept_mnist(monkeypatch, tmp_path / "data")
    bundle = build(resolve("mnist-cnn", {"data.root": str(tmp_path / "data")}).data, resolve("mnist-cnn").aug)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (160, 40, 30)
    assert np.array_equal(bundle.test[7]["image"][0].numpy(), arrays["t10k-images-idx3-ubyte.gz"][7])
    assert bundle.info.image_size == (28, 28) and bundle.info.channels == 1
    assert sorted(int(bundle.val[i]["target"]) for i in range(40)) == sorted(list(range(10)) * 4)  # stratified


def test_a_file_that_fails_its_checksum_is_named(main, tmp_path):
    write_mnist(tmp_path / "data")  # tiny files: not the published ones
    code, _, err = main("train", "mnist-cnn")
    assert code == 2 and "train-images-idx3-ubyte.gz is damaged" in err and "md5" in err


def test_absent_files_are_listed_with_where_to_get_them(main, tmp_path, monkeypatch):
    code, _, err = main("train", "mnist-cnn", "data.download=false")
    folder = tmp_path / "data" / "mnist"
    files = mnist.SETS["mnist"].files
    assert code == 2 and all(f.name in err for f in files)
    assert str(folder) in err and "https://ossci-datasets.s3.amazonaws.com/mnist/" in err
    assert not (tmp_path / "runs" / "mnist-cnn").exists()
    # offline: the download itself fails (a port that refuses connections), same message with the reason
    refusing = tuple(dataclasses.replace(f, urls=("http://127.0.0.1:9/" + f.name,)) for f in files)
    monkeypatch.setitem(mnist.SETS, "mnist", dataclasses.replace(mnist.SETS["mnist"], files=refusing))
    code, _, err = main("train", "mnist-cnn")
    assert code == 2 and "download failed" in err and all(f.name in err for f in files) and str(folder) in err
    assert not list(folder.glob("*.part"))


def test_fashion_mnist_reads_the_same_format_under_its_own_folder_with_its_class_names(tmp_path, monkeypatch, main):
    data = tmp_path / "data"
    arrays = write_mnist(data, n_train=100, n_test=20, folder="fashion_mnist")
    code, _, err = main("train", "fashion-mnist-cnn")
    assert code == 2 and f"{data / 'fashion_mnist' / 'train-images-idx3-ubyte.gz'} is damaged" in err  # not the published files
    accept_mnist(monkeypatch, data, "fashion_mnist")
    cfg = resolve("fashion-mnist-cnn")
    bundle = build(cfg.data, cfg.aug)
    assert bundle.info.class_names[0] == "T-shirt/top" and bundle.info.class_names[9] == "Ankle boot"
    assert np.array_equal(bundle.test[3]["image"][0].numpy(), arrays["t10k-images-idx3-ubyte.gz"][3])
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (80, 20, 20)
    code, _, err = main("train", "fashion-mnist-cnn", "data.download=false", f"data.root={tmp_path / 'empty'}")
    assert code == 2 and "fashion-mnist.s3-website.eu-central-1.amazonaws.com" in err
