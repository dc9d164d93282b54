"""vislab export: ONNX (through ONNX Runtime for real) and TorchScript files that carry the run's
preprocessing, check themselves against PyTorch, and evaluate and predict through the task's own code
with the numbers of the PyTorch model."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import vislab
from conftest import SRC
from vislab.errors import VislabError

def metrics_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == pytest.approx(b[key], abs=1e-3, nan_ok=True), key


def test_onnx_export_carries_preprocessing_checks_itself_and_evaluates_like_pytorch(main, digits_run, tmp_path):
    import onnx

    code, out, err = main("export", digits_run.dir)
    assert code == 0, err
    path = digits_run.dir / "export" / "best.onnx"
    meta = json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["vislab"])
    info = json.loads((digits_run.dir / "data_info.json").read_text())
    assert {k: meta[k] for k in ("mean", "std", "channels", "class_names")} == {k: info[k] for k in ("mean", "std", "channels", "class_names")}
    assert meta["input_size"] == [12, 12] and meta["resize"] == [12, 12] and meta["task"] == "classification" and meta["model"] == "cnn-mnist"
    check = json.loads((digits_run.dir / "export" / "export.json").read_text())["best.onnx"]
    assert check["sample"] == "32 validation images" and check["max_abs_diff"] < 1e-4 and check["agreement"] == 1.0
    assert check["metric"] == "acc" and check["pytorch"] == check["exported"]
    assert f"agreement 1.0000, acc {check['pytorch']:.4f} (PyTorch)" in out

    exported = vislab.evaluate(digits_run, split="test", exported=path)
    metrics_close(exported, vislab.evaluate(digits_run, split="test"))
    assert (digits_run.dir / "eval_test_best.onnx.json").is_file()

    images = tmp_path / "images"
    images.mkdir()
    for i, shade in enumerate((0, 90, 255)):
        Image.fromarray(np.full((8, 9), shade, np.uint8), "L").save(images / f"{i}.png")
    ours = vislab.predict(digits_run, [images], topk=3)
    theirs = vislab.predict(digits_run, [images], topk=3, exported=path)
    assert [r["classes"] for r in ours] == [r["classes"] for r in theirs]
    assert np.allclose([r["probabilities"] for r in ours], [r["probabilities"] for r in theirs], atol=1e-5)


def test_torchscript_export_with_any_batch_size(main, digits_run, tmp_path):
    out_file = tmp_path / "digits.torchscript"
    code, _, err = main("export", digits_run.dir, "--format", "torchscript", "--out", out_file, "--checkpoint", "last")
    assert code == 0, err
    assert json.loads((tmp_path / "export.json").read_text())["digits.torchscript"]["agreement"] == 1.0
    metrics_close(vislab.evaluate(digits_run, exported=out_file), vislab.evaluate(digits_run, checkpoint="last"))


@pytest.mark.slow
def test_panoptic_heads_export_with_dynamic_size_and_evaluate_like_pytorch(main, panoptic_run, digits_run, tmp_path):
    code, out, err = main("export", panoptic_run.dir, "--dynamic-batch", "--out", tmp_path / "pan.onnx")
    assert code == 0, err
    check = json.loads((tmp_path / "export.json").read_text())["pan.onnx"]
    assert check["metric"] == "pq" and check["agreement"] == 1.0 and check["max_abs_diff"] < 1e-3
    metrics_close(vislab.evaluate(panoptic_run, exported=tmp_path / "pan.onnx"), vislab.evaluate(panoptic_run))
    photo = tmp_path / "photos"
    photo.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 72, 3), np.uint8)).save(photo / "a.png")  # another size
    vislab.predict(panoptic_run, [photo], out=tmp_path / "torch")
    vislab.predict(panoptic_run, [photo], out=tmp_path / "onnx", exported=tmp_path / "pan.onnx")
    for name in ("a_mask.png", "a_panoptic.png"):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "torch" / name)), np.asarray(Image.open(tmp_path / "onnx" / name)))
    code, _, err = main("eval", digits_run.dir, "--exported", tmp_path / "pan.onnx")
    assert code == 2 and "was exported from another kind of run" in err


def test_without_the_dataset_the_check_runs_on_generated_images():
    from vislab import config
    from vislab.export.checks import sample_batches
    from vislab.inference import single_device_fabric

    cfg = config.resolve("mnist-cnn", {"data.download": False})  # no MNIST under the test's data root
    meta = {"channels": 1, "input_size": [28, 28], "normalize": True, "mean": [0.5], "std": [0.25]}
    batches, source = sample_batches(cfg, single_device_fabric(cfg), 4, meta)
    assert source.startswith("4 generated images (no validation data: ") and "mnist" in source
    (batch,) = list(batches)
    assert batch["image"].shape == (4, 1, 28, 28) and "target" not in batch
    assert -2 <= float(batch["image"].min()) < 0 < float(batch["image"].max()) <= 2  # (U(0,1) - 0.5) / 0.25


SITE_BLOCKER = '''
"""The interpreter of a machine without the export extra: onnx, onnxruntime and onnxscript are not found."""
import sys
from importlib.machinery import PathFinder


class WithoutExtra(PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] in ("onnx", "onnxruntime", "onnxscript"):
            return None
        return super().find_spec(name, path, target)


sys.meta_path[:] = [WithoutExtra if finder is PathFinder else finder for finder in sys.meta_path]
'''


def test_without_the_extra_the_verbs_name_it(cli, tmp_path):
    """A real interpreter in which onnx, onnxruntime and onnxscript cannot be imported."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SITE_BLOCKER)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("recipe: digits\n")
    (run / "model.onnx").write_bytes(b"")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(SRC)])}
    for args in (["export", run], ["eval", run, "--exported", run / "model.onnx"]):
        result = cli(*args, env=env)
        assert result.returncode == 2, result.stderr
        assert "pip install 'vislab[export]'" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (run / "export").exists()


def test_bad_export_arguments_are_refused_before_anything_is_written(main, digits_run, tmp_path):
    before = sorted(digits_run.dir.rglob("*"))
    cases = [
        (["--format", "torchscript", "--opset", "17"], "--opset applies to --format onnx"),
        (["--out", tmp_path / "model.pt"], "must end in .onnx"),
        (["--checkpoint", "ema"], f"{digits_run.dir / 'checkpoints' / 'ema.pt'} does not exist"),
        (["--checkpoint", "../best"], "is a checkpoint name"),
    ]
    for args, message in cases:
        code, _, err = main("export", digits_run.dir, *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    code, _, err = main("eval", digits_run.dir, "--checkpoint", "averaged")
    assert code == 2 and "checkpoints/averaged.pt does not exist" in err and "(it has: best, last)" in err
    code, _, err = main("eval", digits_run.dir, "--exported", tmp_path / "none.onnx")
    assert code == 2 and "none.onnx does not exist" in err
    assert sorted(digits_run.dir.rglob("*")) == before and not list(tmp_path.iterdir())


def test_an_operator_onnx_lacks_is_bad_input_naming_it_and_the_model(tmp_path):
    from vislab.export.export import export_model

    class RunningMax(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cummax(x, 1).values

    meta = {"model": "running-max", "outputs": ["output"], "dynamic_batch": False, "dynamic_size": False}
    with pytest.raises(VislabError, match="cannot export model running-max to onnx: .* operator aten.cummax"):
        export_model(RunningMax(), torch.zeros(1, 3, 4, 4), tmp_path / "m.onnx", "onnx", meta)
    assert list(tmp_path.iterdir()) == []


def test_export_of_the_ema_weights_evaluates_as_eval_of_them(cli, ema_run, tmp_path):
    import onnx

    result = cli("export", ema_run.dir, "--weights", "ema")
    assert result.returncode == 0, result.stderr
    path = ema_run.dir / "export" / "best_ema.onnx"
    assert f"wrote {path}" in result.stdout
    meta = json.loads({p.key: p.value for p in onnx.load(str(path)).metadata_props}["vislab"])
    assert meta["weights"] == "ema" and meta["checkpoint"] == "best"
    measured = {}
    for name, args in {"ema": ["--weights", "ema"], "exported": ["--exported", path], "raw": []}.items():
        result = cli("eval", ema_run.dir, *args, "--out", tmp_path / f"{name}.json")
        assert result.returncode == 0, result.stderr
        measured[name] = {k: v for k, v in json.loads((tmp_path / f"{name}.json").read_text()).items() if k.startswith("val_")}
    metrics_close(measured["exported"], measured["ema"])
    assert measured["raw"]["val_loss"] != pytest.approx(measured["ema"]["val_loss"], abs=1e-3)  # other weights


def test_onnx_files_have_the_opset_the_help_states(cli, digits_run, tmp_path):
    import re

    import onnx

    def opset(path) -> int:
        return next(o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx"))

    help_text = " ".join(cli("export", "--help").stdout.split())
    stated = int(re.search(r"ONNX opset, \d+ to \d+ \(default (\d+)\)", help_text).group(1))
    for args, expected in (([], stated), (["--opset", 18], 18)):
        result = cli("export", digits_run.dir, "--out", tmp_path / f"m{expected}.onnx", *args)
        assert result.returncode == 0, result.stderr
        assert opset(tmp_path / f"m{expected}.onnx") == expected
    result = cli("export", digits_run.dir, "--opset", 12, "--out", tmp_path / "m12.onnx")  # torch writes 18 at the least
    assert result.returncode == 2 and "--opset applies to --format onnx and must be between 18 and 23" in result.stderr
    assert not (tmp_path / "m12.onnx").exists()
