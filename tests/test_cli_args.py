"""The command line's argument handling, as a user types it."""

from __future__ import annotations

from pathlib import Path


def test_overrides_may_follow_options(tmp_path: Path, main):
    code, out, err = main("train", "digits", "--runs-dir", tmp_path, "train.epochs=1", "--name", "x", "train.progress=false")
    assert code == 0, err
    assert "run directory: " in out and out.splitlines()[0].endswith("-x")


def test_unknown_option_is_refused_by_argparse(main, capsys):
    import pytest

    with pytest.raises(SystemExit) as e:
        main("train", "digits", "--bogus")
    assert e.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_version_and_recipes_listing(main, capsys):
    import pytest

    with pytest.raises(SystemExit) as e:
        main("--version")
    assert e.value.code == 0 and "vislab " in capsys.readouterr().out
    code, out, _ = main("recipes")
    names = [line.split()[0] for line in out.splitlines()]
    assert "digits" in names and "mnist-cnn" in names
