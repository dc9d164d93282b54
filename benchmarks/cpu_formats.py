"""Training-step images/s of vislab's models on the CPU under bf16 autocast, channels_last and torch.compile.

For cnn-mnist (28 px, batch 100), resnet18 (64 px, batch 32) and the shapes UNet (64 px, batch 32), as
their recipes build them: a forward, a loss, a backward and an Adam step per image batch, each variant
alternated with plain float32 in one process over several rounds (so load changes hit both alike). Prints
each variant's images/s and its ratio to float32; this is what ``train.precision=auto`` and the recipes'
``train.channels_last`` defaults are chosen from.

    python benchmarks/cpu_formats.py [--steps 20] [--rounds 3] [--compile]
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F

from vislab import config, models
from vislab.data.bundle import DataInfo

CASES = {
    # name: (recipe overrides of the model section, channels, image size, batch, classes, task)
    "cnn-mnist": ({"model.name": "cnn-mnist"}, 1, 28, 100, 10, "classification"),
    "resnet18": ({"model.name": "resnet18", "model.pretrained": False}, 3, 64, 32, 10, "classification"),
    "shapes-unet": ({}, 3, 64, 32, 4, "segmentation"),
}
RECIPE = {"cnn-mnist": "digits", "resnet18": "digits", "shapes-unet": "shapes-unet"}


def build(name: str) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    overrides, channels, size, batch, classes, task = CASES[name]
    cfg = config.resolve(RECIPE[name], overrides)
    info = DataInfo(task, classes, [str(i) for i in range(classes)], channels, [0.5] * channels, [0.25] * channels,
                    image_size=(size, size))
    model = models.build(cfg.model, info)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, size, size, generator=g)
    shape = (batch,) if task == "classification" else (batch, size, size)
    return model, x, torch.randint(0, classes, shape, generator=g)


def step_speed(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, steps: int,
               bf16: bool) -> float:
    """Images/s over ``steps`` training steps."""
    start = time.perf_counter()
    for _ in range(steps):
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
            out = model(x)
            out = out["semantic"] if isinstance(out, dict) else out
            loss = F.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * x.shape[0] / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to compile)")
    ap.add_argument("--models", nargs="*", default=list(CASES))
    args = ap.parse_args()
    variants = [("bf16", True, False, False), ("channels_last", False, True, False), ("bf16+channels_last", True, True, False)]
    if args.compile:
        variants.append(("compile", False, False, True))
    print(f"{torch.get_num_threads()} threads; bf16 support: {torch.backends.mkldnn.is_available()}")
    for name in args.models:
        base_model, x, y = build(name)
        runs = {"float32": (base_model, x, False)}
        for label, bf16, cl, comp in variants:
            model, _, _ = build(name)
            xv = x.contiguous(memory_format=torch.channels_last) if cl else x
            model = model.to(memory_format=torch.channels_last) if cl else model
            runs[label] = (torch.compile(model) if comp else model, xv, bf16)
        opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, (m, _, _) in runs.items()}
        speeds: dict[str, list[float]] = {k: [] for k in runs}
        for k, (m, xv, bf16) in runs.items():
            step_speed(m, opts[k], xv, y, 2, bf16)  # warm-up (and compilation)
        for _ in range(args.rounds):
            for k, (m, xv, bf16) in runs.items():
                speeds[k].append(step_speed(m, opts[k], xv, y, args.steps, bf16))
        base = statistics.median(speeds["float32"])
        for k in runs:
            v = statistics.median(speeds[k])
            print(f"{name:12s} {k:20s} {v:8.0f} img/s  x{v / base:.2f}")


if __name__ == "__main__":
    main()
