"""Config resolution as a user meets it: recipes, key=value overrides, and the messages for mistakes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vislab import config
from vislab.errors import VislabError


def test_digits_recipe_resolves_over_the_defaults():
    cfg = config.resolve("digits")
    assert cfg.recipe == "digits"
    assert cfg.data.name == "digits" and cfg.data.test_fraction == 0.2
    assert cfg.model.name == "cnn-mnist"
    assert cfg.optim.lr == 0.003 and cfg.sched.name == "cosine"
    assert cfg.optim.weight_decay == 0.0  # untouched keys keep their defaults


@pytest.mark.parametrize(
    "text, key, value",
    [
        ("optim.lr=1e-3", "optim.lr", 0.001),  # YAML 1.1 alone would read 1e-3 as a string
        ("aug.resize=[256,256]", "aug.resize", [256, 256]),
        ("data.mask_values={0: 0, 255: 1}", "data.mask_values", {0: 0, 255: 1}),
        ("aug.random_crop=null", "aug.random_crop", None),
        ("train.deterministic=true", "train.deterministic", True),
        ("data.class_names=[bg, membrane]", "data.class_names", ["bg", "membrane"]),
    ],
)
def test_overrides_are_typed_by_yaml(text, key, value):
    k, v = config.parse_override(text)
    cfg = config.resolve("digits", {k: v})
    assert k == key
    assert config.flatten(cfg)[key] == value


def test_integer_is_accepted_where_a_float_is_expected():
    assert config.resolve("digits", {"optim.lr": 1}).optim.lr == 1.0
    assert isinstance(config.resolve("digits", {"optim.lr": 1}).optim.lr, float)


def test_nested_section_switched_on_by_one_of_its_keys():
    cfg = config.resolve("digits", {"aug.random_crop.size": [6, 6]})
    assert cfg.aug.random_crop.size == [6, 6]
    assert cfg.aug.random_crop.padding_mode == "constant"  # the rest comes from the section's defaults


def test_unknown_key_names_the_close_match():
    with pytest.raises(VislabError) as e:
        config.resolve("digits", {"optim.lrr": 0.1})
    assert "'optim.lrr'" in str(e.value) and "did you mean 'optim.lr'?" in str(e.value)


def test_key_without_section_finds_its_section():
    with pytest.raises(VislabError, match="did you mean 'optim.lr'"):
        config.resolve("digits", {"lr": 0.1})


def test_wrong_type_names_key_value_and_expected_type():
    with pytest.raises(VislabError) as e:
        config.resolve("digits", {"optim.lr": "fast"})
    msg = str(e.value)
    assert "optim.lr" in msg and "'fast'" in msg and "float" in msg


def test_choice_outside_the_literal_lists_the_choices():
    with pytest.raises(VislabError, match="one of 'sgd', 'adam', 'adamw', 'rmsprop'"):
        config.resolve("digits", {"optim.name": "adagrad"})


def test_out_of_range_values_are_refused():
    with pytest.raises(VislabError, match="train.epochs' must be at least 1, got 0"):
        config.resolve("digits", {"train.epochs": 0})
    with pytest.raises(VislabError, match="optim.lr' must not be negative"):
        config.resolve("digits", {"optim.lr": -1.0})


def test_unknown_recipe_lists_the_recipes():
    with pytest.raises(VislabError) as e:
        config.resolve("digitz")
    assert "did you mean digits" in str(e.value)
    assert "`vislab recipes` lists all" in str(e.value)


def test_recipe_file_with_extends_and_sections(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text("extends: digits\noptim:\n  lr: 5.0e-4\naug:\n  cutmix: {}\n")
    cfg = config.resolve(path)
    assert cfg.recipe == "mine"
    assert cfg.optim.lr == 5e-4 and cfg.optim.name == "adam"  # merged into the base, not replacing it
    assert cfg.model.name == "cnn-mnist"
    assert cfg.aug.cutmix is not None and cfg.aug.cutmix.alpha == 1.0  # an empty section switches it on


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("optim:\n  lr: [1,\n")
    with pytest.raises(VislabError, match=r"broken.yaml line \d+: not valid YAML"):
        config.resolve(path)


def test_commented_dump_has_every_key_and_reads_back(tmp_path: Path):
    cfg = config.resolve("digits", {"aug.random_crop.size": 6, "data.mask_values": {0: 1}})
    text = config.dump_commented(cfg)
    for line in text.splitlines():
        assert "  # " in line, f"key without a comment: {line}"
    lines = set(text.splitlines())
    for key in config.flatten(cfg):
        *sections, leaf = key.split(".")
        prefix = "  " * len(sections) + leaf + ":"
        assert any(line.startswith(prefix) for line in lines), key
    path = tmp_path / "config.yaml"
    config.save(cfg, path)
    assert config.resolve(path) == cfg


def test_strings_that_look_like_numbers_survive_config_yaml(tmp_path: Path):
    cfg = config.resolve("digits", {"data.test_domain": "1e-3", "data.class_names": ["007", "yes", "null"]})
    path = tmp_path / "config.yaml"
    config.save(cfg, path)
    again = config.resolve(path)
    assert again.data.test_domain == "1e-3"
    assert again.data.class_names == ["007", "yes", "null"]


@pytest.mark.parametrize("key, value, message", [
    ("optim.layer_decay", 1.5, "'optim.layer_decay' must be in (0, 1], got 1.5"),
    ("optim.backbone_lr_mult", 0.0, "'optim.backbone_lr_mult' must be greater than 0, got 0.0"),
    ("aug.mix_switch_p", 2.0, "'aug.mix_switch_p' must be in [0, 1], got 2.0"),
    ("aug.randaugment.num_magnitude_bins", 1, "'aug.randaugment.num_magnitude_bins' must be at least 2, got 1"),
    ("data.repeat", [{"hflip": 1.5}], "'data.repeat[0].hflip' must be in [0, 1], got 1.5"),
])
def test_range_rules_beside_their_fields_reach_every_section(key, value, message):
    with pytest.raises(VislabError, match=re.escape(message)):
        config.resolve("digits", {key: value})


def test_extends_in_a_recipe_file_is_found_beside_that_file(tmp_path, monkeypatch):
    from vislab.config import resolve

    (tmp_path / "recipes" / "common").mkdir(parents=True)
    (tmp_path / "recipes" / "common" / "base.yaml").write_text("extends: digits\noptim:\n  lr: 0.02\n")
    (tmp_path / "recipes" / "mine.yaml").write_text("extends: common/base.yaml\ntrain:\n  epochs: 3\n")
    (tmp_path / "recipes" / "sibling.yaml").write_text("extends: mine.yaml\ntrain:\n  batch_size: 8\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # not where the recipes are
    cfg = resolve(tmp_path / "recipes" / "sibling.yaml")
    assert (cfg.optim.lr, cfg.train.epochs, cfg.train.batch_size, cfg.data.name) == (0.02, 3, 8, "digits")
    assert cfg.recipe == "sibling"
