"""MNIST from its real files (gzipped IDX), checked against the published checksums."""

from __future__ import annotations

import dataclasses

import numpy as np

from formats import accept_mnist, write_mnist
from vislab.config import resolve
from vislab.data import build, mnist


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
    assert code == 2 and all(f.name in err for f in mnist.FILES)
    assert str(folder) in err and "https://ossci-datasets.s3.amazonaws.com/mnist/" in err
    assert not (tmp_path / "runs" / "mnist-cnn").exists()
    # offline: the download itself fails (a port that refuses connections), same message with the reason
    refusing = tuple(dataclasses.replace(f, urls=("http://127.0.0.1:9/" + f.name,)) for f in mnist.FILES)
    monkeypatch.setattr(mnist, "FILES", refusing)
    code, _, err = main("train", "mnist-cnn")
    assert code == 2 and "download failed" in err and all(f.name in err for f in mnist.FILES) and str(folder) in err
    assert not list(folder.glob("*.part"))
