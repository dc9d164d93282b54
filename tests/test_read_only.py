"""A run directory on a read-only mount: eval prints its metrics before saying what it could not write;
predict and resume stop with one line naming the place; nothing crashes with a traceback.

The mount is real: a private mount namespace (``unshare``) binds the run directory read-only, which stops
root as well. Where namespaces are not allowed, the test skips."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vislab

ROOT = Path(__file__).resolve().parents[1]
TINY = {"train.epochs": 1, "train.progress": False, "train.limit_batches": 2, "train.batch_size": 4}

# Each verb in the same process (the imports are paid once); prints one JSON line per verb.
VERBS = """
import contextlib, io, json, sys
from vislab.cli import main
for args in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    print(json.dumps([code, out.getvalue(), err.getvalue()]), flush=True)
"""


def read_only_calls(folder: Path, calls: list[list[str]]) -> list[tuple[int, str, str]]:
    """Run the CLI ``calls`` with ``folder`` mounted read-only."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, str(folder), sys.executable, "-c", VERBS, json.dumps(calls)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    if proc.returncode != 0 and "mount" in proc.stderr and not proc.stdout:
        pytest.skip(f"no read-only mount here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    return [tuple(json.loads(line)) for line in proc.stdout.splitlines()]


def test_eval_predict_and_resume_on_a_read_only_run(tmp_path: Path):
    run = vislab.train("shapes-unet", runs_dir=tmp_path / "runs", **TINY, **{"data.num_samples": 8})
    Image.fromarray(np.full((24, 24, 3), 90, np.uint8)).save(tmp_path / "img.png")
    (run.dir / "predictions").mkdir()  # an earlier predict made it: creating it is not what fails
    before = sorted(p.relative_to(run.dir) for p in run.dir.rglob("*"))
    calls = [
        ["eval", str(run.dir)],
        ["eval", str(run.dir), "--out", str(tmp_path / "eval.json")],
        ["predict", str(run.dir), str(tmp_path / "img.png")],
        ["train", "--resume", str(run.dir), "train.epochs=2"],
    ]
    (code, out, err), (code_out, out_out, err_out), *others = read_only_calls(run.dir, calls)

    assert code == 2 and "Traceback" not in err
    printed = dict(line.split() for line in out.splitlines())
    assert float(printed["val_miou"]) == pytest.approx(run.summary["best_value"], abs=5e-5)
    assert err.strip() == (
        f"vislab: error: cannot write {run.dir / 'eval_val_best.json'}: Read-only file system; "
        "the metrics above were not saved (write them elsewhere with --out FILE.json)"
    )
    assert code_out == 0 and out_out == out, err_out
    assert json.loads((tmp_path / "eval.json").read_text())["val_miou"] == pytest.approx(float(printed["val_miou"]), abs=5e-5)

    for (code, out, err), where, fix in zip(others, [f"output folder {run.dir / 'predictions'}", f"run directory {run.dir}"],
                                            ["choose another with --out", "copy the run directory somewhere writable"]):
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
        assert err.startswith(f"vislab: error: cannot use {where}: Read-only file system; {fix}"), err
    assert sorted(p.relative_to(run.dir) for p in run.dir.rglob("*")) == before
