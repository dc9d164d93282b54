"""How sweep values are read from the command line and stored in the study."""

from __future__ import annotations

import pytest

from vislab.errors import VislabError
from vislab.experiments.sweep.space import Choice, FloatRange, IntRange, Space, decode, encode, parse_items, split_values


def test_commas_split_values_except_inside_brackets_braces_and_quotes():
    assert split_values("adam,sgd, rmsprop") == ["adam", "sgd", "rmsprop"]
    assert split_values("[256,256]") == ["[256,256]"]
    assert split_values("[256,256],[128,128]") == ["[256,256]", "[128,128]"]
    assert split_values("{0: 0, 255: 1}") == ["{0: 0, 255: 1}"]
    assert split_values("'a,b',c") == ["'a,b'", "c"]


def test_items_become_fixed_values_grid_values_and_ranges():
    fixed, grid, ranges = parse_items([
        "train.epochs=2", "optim.name=adam,sgd", "optim.weight_decay=0,1e-5", "aug.resize=[32,32]",
        "data.mask_values={0: 0, 255: 1}", "optim.lr=loguniform(1e-4,1e-2)", "train.batch_size=int(16,128)",
        "sched.name=choice(none,cosine)",
    ])
    assert fixed == {"train.epochs": 2, "aug.resize": [32, 32], "data.mask_values": {0: 0, 255: 1}}
    assert grid == {"optim.name": ["adam", "sgd"], "optim.weight_decay": [0, 1e-5]}
    assert ranges == {
        "optim.lr": FloatRange(1e-4, 1e-2, log=True),
        "train.batch_size": IntRange(16, 128),
        "sched.name": Choice(("none", "cosine")),
    }


@pytest.mark.parametrize("item, message", [
    ("optim.lr=loguniform(0,1)", "positive low end"),
    ("optim.lr=uniform(1e-2,1e-4)", "low must be below high"),
    ("train.batch_size=int(16.5,32)", "two integers"),
    ("sched.name=choice(cosine)", "at least two values"),
    ("optim.lr", "not key=value"),
])
def test_bad_ranges_name_the_item(item, message):
    with pytest.raises(VislabError, match=message):
        parse_items([item])


@pytest.mark.parametrize("value", ["adam", 3, 1e-3, None, True, [256, 256], {0: 0, 255: 1}, "null", "1e-3", ""])
def test_values_survive_the_round_trip_through_the_study(value):
    stored = encode(value)
    assert stored is None or isinstance(stored, (str, int, float, bool))
    assert decode(stored) == value and type(decode(stored)) is type(value)


def test_grid_points_vary_the_seed_slowest():
    space = Space({"optim.name": Choice(("adam", "sgd")), "train.seed": Choice((0, 1))})
    assert space.grid_points() == [
        {"train.seed": 0, "optim.name": "adam"}, {"train.seed": 0, "optim.name": "sgd"},
        {"train.seed": 1, "optim.name": "adam"}, {"train.seed": 1, "optim.name": "sgd"},
    ]
    assert Space.from_spec(space.to_spec()) == space
