"""Nothing let in: a checkpoint or a recipe cannot run code, and the sources keep to the safe loaders."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest
import torch

from vislab import config

SRC = Path(__file__).resolve().parents[1] / "src" / "vislab"


class Payload:
    """Unpickling this creates a folder: the proof that a loader ran the file's code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run directory as training leaves it, up to its checkpoints (only those are read first)."""
    run = tmp_path / "runs" / "digits" / "20260101-000000"
    (run / "checkpoints").mkdir(parents=True)
    config.save(config.resolve("digits"), run / "config.yaml")
    return run


def crafted(path: Path, marker: Path, fmt: str) -> None:
    """A checkpoint whose unpickling would run code: torch's zip format or a bare pickle."""
    if fmt == "torch":
        torch.save({"format": "vislab-checkpoint/1", "model": Payload(marker)}, path)
    else:
        path.write_bytes(pickle.dumps({"model": Payload(marker)}, protocol=2))


@pytest.mark.parametrize("fmt", ["torch", "pickle"])
def test_the_crafted_checkpoint_would_run_code_if_loaded_unsafely(tmp_path: Path, fmt: str):
    crafted(tmp_path / "x.pt", tmp_path / "ran", fmt)
    if fmt == "torch":
        torch.load(tmp_path / "x.pt", weights_only=False)
    else:
        pickle.loads((tmp_path / "x.pt").read_bytes())
    assert (tmp_path / "ran").is_dir()  # so the refusals below are refusals of a real payload


@pytest.mark.parametrize("fmt", ["torch", "pickle"])
@pytest.mark.parametrize("verb", ["resume", "eval"])
def test_a_crafted_checkpoint_is_refused_without_running_it(main, run_dir: Path, tmp_path: Path, fmt: str, verb: str):
    marker = tmp_path / "ran"
    for which in ("last", "best"):
        crafted(run_dir / "checkpoints" / f"{which}.pt", marker, fmt)
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    args = ("train", "--resume", run_dir) if verb == "resume" else ("eval", run_dir)
    code, out, err = main(*args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "was refused: it holds objects other than tensors and plain data" in err
    assert not marker.exists()
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_a_truncated_checkpoint_is_bad_input(main, run_dir: Path):
    torch.save({"format": "vislab-checkpoint/1", "model": {"w": torch.zeros(1000)}}, run_dir / "checkpoints" / "best.pt")
    data = (run_dir / "checkpoints" / "best.pt").read_bytes()
    (run_dir / "checkpoints" / "best.pt").write_bytes(data[: len(data) // 2])
    code, _, err = main("eval", run_dir)
    assert code == 2 and "is unreadable or truncated" in err and "Traceback" not in err


@pytest.mark.parametrize("where", ["recipe", "override"])
def test_yaml_cannot_construct_python_objects(main, tmp_path: Path, where: str):
    marker = tmp_path / "ran"
    tag = f"!!python/object/apply:os.mkdir [{str(marker)!r}]"
    if where == "recipe":
        (tmp_path / "evil.yaml").write_text(f"extends: digits\noptim:\n  lr: {tag}\n")
        code, _, err = main("train", tmp_path / "evil.yaml")
        assert "evil.yaml line 3: not valid YAML" in err
    else:
        code, _, err = main("train", "digits", f"optim.lr={tag}")
        assert "is not valid YAML" in err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "runs").exists()


def python_sources() -> list[tuple[Path, str]]:
    return [(p, p.read_text()) for p in sorted(SRC.rglob("*.py"))]


def call_arguments(text: str, start: int) -> str:
    """The text between an opening parenthesis (just before ``start``) and its match."""
    depth = 1
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    return text[start:]


def test_the_sources_use_only_safe_loaders_and_no_shell():
    """Later capabilities keep these promises too: this scans every module of the package."""
    problems = []
    for path, text in python_sources():
        for n, line in enumerate(text.splitlines(), 1):
            where = f"{path.relative_to(SRC)}:{n}"
            if re.search(r"shell\s*=\s*True|os\.system\(|os\.popen\(", line):
                problems.append(f"{where}: a shell")
            if re.search(r"\bpickle\.loads?\(|\byaml\.unsafe_load|\byaml\.full_load|Loader=yaml\.(Unsafe|Full)?Loader", line):
                problems.append(f"{where}: an unsafe loader")
            if re.search(r"\byaml\.load\(", line) and "Loader=_Loader" not in line:
                problems.append(f"{where}: yaml.load without the safe loader")
        for call in re.finditer(r"torch\.load\(", text):
            if "weights_only=True" not in call_arguments(text, call.end()):
                problems.append(f"{path.relative_to(SRC)}: torch.load without weights_only=True")
    assert problems == []
