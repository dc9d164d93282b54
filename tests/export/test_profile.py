"""vislab profile: parameter counts, FLOPs and activation memory with known answers, and the timings of
a run's model eager and through ONNX Runtime."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from vislab.engine import load_checkpoint
from vislab.export.profile import activation_bytes, flops


def test_flops_and_activation_memory_have_their_textbook_values():
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    # a multiply-add is 2 FLOPs: conv 2*1*4*9 per output pixel (64 of them), linear 2*256*10
    assert flops(net, torch.zeros(1, 1, 8, 8)) == 2 * 4 * 9 * 64 + 2 * 256 * 10
    mlp = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    # kept for backward: the input of the first layer (16 floats) and the ReLU's output (32 floats, which the
    # second layer keeps as its input: the same storage, counted once); weights are parameters, not activations
    assert activation_bytes(mlp, torch.zeros(1, 16)) == (16 + 32) * 4


def test_profile_of_a_run_counts_its_parameters_and_times_both_engines(main, digits_run):
    code, out, err = main("profile", digits_run.dir, "--batch", 2, "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    weights = load_checkpoint(digits_run.dir / "checkpoints" / "best.pt")["model"]
    learned = sum(v.numel() for k, v in weights.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert result["parameters"] == result["trainable"] == learned
    assert result["input"] == [1, 12, 12] and result["flops_per_image"] > 0 and result["activation_bytes_per_image"] > 0
    for engine in ("eager", "onnxruntime"):
        assert set(result[engine]) == {"batch_1", "batch_2"}
        assert all(t["latency_ms"] > 0 and t["images_per_s"] > 0 for t in result[engine].values())


def test_profile_of_a_run_at_another_size(main, panoptic_run):
    code, out, err = main("profile", panoptic_run.dir, "data.image_size=[96,96]", "--eager-only", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["input"] == [3, 96, 96]  # the run trained at 60x60


def test_profile_of_a_recipe_and_bad_batch(main):
    code, out, err = main("profile", "digits", "--eager-only")
    assert code == 0, err
    assert "cnn-mnist  recipe digits (initialized)  input 1x8x8" in out and "eager             batch_64" in out
    assert "onnxruntime" not in out
    code, _, err = main("profile", "digits", "--batch", 1)
    assert code == 2 and "--batch is the larger batch timed beside batch 1" in err


def test_profile_of_a_recipe_at_another_size_plans_threads_as_train_does(cli, monkeypatch):
    import os
    import subprocess
    import sys

    for chosen in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_NUM_THREADS"):  # the user chose nothing
        monkeypatch.delenv(chosen, raising=False)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in os.sched_getaffinity(0)]  # a busy machine
    try:
        result = cli("profile", "digits", "aug.resize=[16,16]", "--eager-only", "--format", "json")
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert result.returncode == 0, result.stderr
    profiled = json.loads(result.stdout)
    assert profiled["input"] == [1, 16, 16]
    # as vislab train would: threads that wait without spinning, and no more of them than the cores left free
    assert profiled["omp_wait_policy"] == "PASSIVE" and profiled["threads"] == 1
