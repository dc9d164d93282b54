"""Mistakes in arguments and config are answered before torch, torchvision, Lightning Fabric or optuna are imported
and before anything is created; output piped into a reader that stops early ends quietly.

Each case runs in a fresh interpreter (this one has torch loaded already) that reports which heavy modules
the failing call imported: no timing, only what was loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "lightning_fabric", "optuna")

CALLS = """
import contextlib, io, json, sys
from vislab.cli import main
for args in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(args)
    loaded = [m for m in json.loads(sys.argv[2]) if m in sys.modules]
    print(json.dumps([code, err.getvalue().strip(), loaded]), flush=True)
"""

CASES = [
    (["train", "digits", "--name", "näme"], "--name 'näme' may use ASCII letters"),
    (["train", "digits", "--name", "a/b"], "--name 'a/b'"),
    (["train", "digits", "optim.lrr=1"], "unknown config key 'optim.lrr'"),
    (["train", "digits", "data.val_fraction=0.6", "data.test_fraction=0.6"], "must sum below 1"),
    (["sweep", "digits", "optim.lr=1e-3,0.001"], "optim.lr lists 0.001 twice"),
    (["sweep", "digits", "optim.lr=1e-3,1e-2", "--name", "bad name"], "--name 'bad name'"),
    (["augment", "digits", "--out", "grid"], "give a name ending in .png"),
    (["eval", "nowhere"], "run directory nowhere does not exist"),
    (["predict", "nowhere", "img.png"], "run directory nowhere does not exist"),
    (["train", "--resume", "nowhere"], "run directory nowhere does not exist"),
]


def test_mistakes_are_answered_before_heavy_imports_and_create_nothing(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "VISLAB_RUNS": str(tmp_path / "runs")}
    proc = subprocess.run(
        [sys.executable, "-c", CALLS, json.dumps([args for args, _ in CASES]), json.dumps(HEAVY)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for (args, phrase), line in zip(CASES, proc.stdout.splitlines(), strict=True):
        code, err, loaded = json.loads(line)
        assert code == 2 and phrase in err, (args, err)
        assert loaded == [], f"{' '.join(args)} imported {loaded} before saying: {err}"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_output_piped_into_a_reader_that_stops_ends_quietly(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        f"'{sys.executable}' -m vislab recipes | head -1", shell=True, capture_output=True, text=True, env=env,
        timeout=60,
    )
    assert proc.stdout.count("\n") == 1 and proc.stderr == ""
