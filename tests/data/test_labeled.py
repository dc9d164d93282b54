"""Labeled/unlabeled splits and bootstrap bags: seeded, stratified, independent of the training seed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vislab import config, data
from vislab.data.loading.labeled import bootstrap_indices, labeled_indices
from vislab.errors import VislabError


def digits_bundle(**overrides):
    cfg = config.resolve("digits", overrides)
    return cfg, data.build(cfg.data, cfg.aug)


def test_labeled_per_class_is_stratified_and_the_rest_is_unlabeled() -> None:
    _, full = digits_bundle()
    cfg, bundle = digits_bundle(**{"data.labeled_per_class": 10})
    assert Counter(bundle.train.targets.tolist()) == {c: 10 for c in range(10)}
    assert len(bundle.unlabeled) == len(full.train) - 100
    assert set(bundle.unlabeled.targets.tolist()) == {-1}  # no label leaks into the pool
    assert len(bundle.val) == len(full.val) and len(bundle.test) == len(full.test)
    assert len(bundle.files["labeled"]) == 100 and len(bundle.files["unlabeled"]) == len(full.train) - 100


def test_labeled_subset_depends_on_split_seed_only() -> None:
    labels = np.repeat(np.arange(4), 25)
    a, rest = labeled_indices(labels, 100, per_class=3, fraction=None, seed=0)
    b, _ = labeled_indices(labels, 100, per_class=3, fraction=None, seed=0)
    c, _ = labeled_indices(labels, 100, per_class=3, fraction=None, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert sorted(np.concatenate([a, rest]).tolist()) == list(range(100))
    frac, _ = labeled_indices(labels, 100, per_class=None, fraction=0.2, seed=0)
    assert Counter(labels[frac].tolist()) == {c: 5 for c in range(4)}


def test_fraction_without_classes_is_uniform_and_per_class_is_refused() -> None:
    kept, rest = labeled_indices(None, 50, per_class=None, fraction=0.1, seed=3)
    assert len(kept) == 5 and len(rest) == 45
    with pytest.raises(VislabError, match="data.labeled_per_class needs class labels"):
        labeled_indices(None, 50, per_class=2, fraction=None, seed=3)


def test_too_many_labels_per_class_is_bad_input() -> None:
    with pytest.raises(VislabError, match=r"data.labeled_per_class=500: class \d+ has only \d+ training samples"):
        digits_bundle(**{"data.labeled_per_class": 500})
    with pytest.raises(VislabError, match="not both"):
        digits_bundle(**{"data.labeled_per_class": 5, "data.labeled_fraction": 0.1})
    with pytest.raises(VislabError, match=r"'data.labeled_fraction' must be in \(0, 1\], got 1.5"):
        digits_bundle(**{"data.labeled_fraction": 1.5})


def test_shapes_fraction_keeps_a_tenth_of_the_scenes_labeled() -> None:
    cfg, bundle = digits_bundle(**{"data.name": "shapes", "data.num_samples": 40, "data.labeled_fraction": 0.1,
                                   "model.name": "unet"})
    assert len(bundle.train) == 4 and len(bundle.unlabeled) == 36
    # hidden: no class id (shapes has 4) and not the ignore index 255, which marks padding
    assert bool((bundle.unlabeled.targets == 4).all())


def test_bootstrap_draws_with_replacement_from_the_run_seed() -> None:
    cfg, bundle = digits_bundle(**{"data.bootstrap": True})
    bag0 = data.bootstrapped(bundle, cfg.data, seed=0)
    bag1 = data.bootstrapped(bundle, cfg.data, seed=1)
    assert len(bag0.train) == len(bundle.train)
    draw0, draw1 = bootstrap_indices(len(bundle.train), 0), bootstrap_indices(len(bundle.train), 1)
    assert not np.array_equal(draw0, draw1)
    assert np.array_equal(bag0.train.targets.numpy(), bundle.train.targets.numpy()[draw0])
    assert 0.55 < len(np.unique(draw0)) / len(draw0) < 0.7  # 1 - 1/e of the samples, as a bag holds
    assert any("bootstrap sample" in n for n in bag0.notes) and bag1.train is not bag0.train


def test_bad_labeled_setting_exits_2_before_a_run_directory(main, tmp_path: Path) -> None:
    code, _, err = main("train", "digits", "data.labeled_per_class=500", "train.epochs=1")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "data.labeled_per_class=500" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("config.yaml"))


def test_unlabeled_root_adds_its_images_to_the_pool(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "extra"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 12, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")  # colour, another size
    _, bundle = digits_bundle(**{"data.labeled_per_class": 10, "data.unlabeled_root": str(folder)})
    assert len(bundle.unlabeled) == 1079 - 100 + 3
    assert tuple(bundle.unlabeled.images.shape[1:]) == (1, 8, 8)  # converted to the training images' form
    with pytest.raises(VislabError, match="data.unlabeled_root=.*nowhere is not a folder"):
        digits_bundle(**{"data.unlabeled_root": str(tmp_path / "nowhere")})
