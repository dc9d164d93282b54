"""The fixed cost of a run: the wall time of `vislab train RECIPE` beyond its epochs, against a plain PyTorch script.

Each round runs, as separate processes, one after the other (alternated, so both see the same machine):
  - `python -m vislab train RECIPE key=value ...` from each ``--src`` tree given (e.g. an old checkout's
    ``src`` beside this one's, to measure a change before and after), and
  - a plain script: import torch and torchvision, build the model, train the same epochs on random tensors
    of the run's split sizes and image shape (one thread), validate each epoch, save nothing.
Fixed cost = process wall time - time in epochs (vislab: metrics.csv's ``seconds`` summed; the plain script
times its own loop). It holds imports, data loading, checkpoints, the final test evaluation, artifacts and
per-image records. Also printed: the sizes of best.pt and last.pt and the machine's load average.

    python benchmarks/fixed_cost.py digits --rounds 3 [--src OLD/src --src src] [key=value ...]
    python benchmarks/fixed_cost.py cifar10-resnet18 train.epochs=2 data.root=DIR --rounds 3

The plain script's model is torchvision's resnet18 for resnet18 recipes, vislab's MNIST CNN for cnn-mnist ones;
other models get no plain reference (the before/after of ``--src`` trees still applies).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

PLAIN = r"""
import sys, time
started = time.perf_counter()
import torch, torchvision
torch.set_num_threads(1)  # vislab on a loaded 2-core machine plans 1-2; only the time outside the epochs is compared
import torch.nn.functional as F
model_name, n_train, n_val, c, h, w, classes, batch, epochs = sys.argv[1], *map(int, sys.argv[2:10])
if model_name == "resnet18":
    model = torchvision.models.resnet18(num_classes=classes)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
else:
    sys.path.insert(0, sys.argv[10])
    from vislab.models.cnn import MnistCNN
    model = MnistCNN(c, classes, (h, w))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
g = torch.Generator().manual_seed(0)
x, y = torch.randn(n_train, c, h, w, generator=g), torch.randint(0, classes, (n_train,), generator=g)
vx, vy = torch.randn(n_val, c, h, w, generator=g), torch.randint(0, classes, (n_val,), generator=g)
in_epochs = 0.0
for epoch in range(epochs):
    t = time.perf_counter()
    model.train()
    for i in torch.randperm(n_train).split(batch):
        loss = F.cross_entropy(model(x[i]), y[i])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(vx[j:j + batch]).argmax(1) == vy[j:j + batch]).sum()) for j in range(0, n_val, batch))
    in_epochs += time.perf_counter() - t
print(in_epochs)
"""


PLAIN_MODELS = {"resnet18": "resnet18", "cnn-mnist": "cnn"}  # vislab's model name -> the plain script's


def vislab_run(src: Path, recipe: str, overrides: list[str], runs: Path) -> dict:
    """One `vislab train` process from the tree ``src``: its wall time, time in epochs and checkpoint sizes."""
    env = {**os.environ, "PYTHONPATH": str(src), "VISLAB_RUNS": str(runs)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vislab", "train", recipe, *overrides], env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"vislab train failed ({src}):\n{done.stderr[-2000:]}")
    run = max((runs / recipe).iterdir(), key=lambda p: p.stat().st_mtime)
    with open(run / "metrics.csv", newline="") as f:
        in_epochs = sum(float(row["seconds"]) for row in csv.DictReader(f))
    sizes = {p.stem: p.stat().st_size for p in (run / "checkpoints").glob("*.pt")}
    return {"wall": wall, "epochs": in_epochs, "sizes": sizes, "summary": json.loads((run / "summary.json").read_text()),
            "shape": json.loads((run / "data_info.json").read_text()),
            "config": yaml.safe_load((run / "config.yaml").read_text())}


def plain_run(model: str, summary: dict, info: dict, batch: int, epochs: int) -> dict:
    """One plain-script process: its wall time and time in epochs."""
    c = info["channels"]
    h, w = info.get("image_size") or (8, 8)
    args = [model, summary["train_size"], summary["val_size"], c, h, w, info["num_classes"], batch, epochs, ROOT / "src"]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PLAIN, *map(str, args)], capture_output=True, text=True, check=True)
    return {"wall": time.perf_counter() - started, "epochs": float(done.stdout.split()[-1])}


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", help="key=value for the vislab run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--src", action="append", type=Path, help="a vislab source tree (repeat to compare)")
    args = parser.parse_args()
    srcs = args.src or [ROOT / "src"]
    overrides = ["train.progress=false", *args.overrides]
    results: dict[str, list[dict]] = {str(s): [] for s in srcs}
    plain: list[dict] = []
    print(f"load average before: {os.getloadavg()}; cores {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as scratch:
        for r in range(args.rounds):
            for src in srcs:
                result = vislab_run(src.resolve(), args.recipe, overrides, Path(scratch) / f"runs{r}")
                results[str(src)].append(result)
            cfg, summary = result["config"], result["summary"]
            if cfg["model"]["name"] in PLAIN_MODELS:
                plain.append(plain_run(PLAIN_MODELS[cfg["model"]["name"]], summary, result["shape"],
                                       cfg["train"]["batch_size"], summary["epochs_completed"]))
    plain_fixed = [p["wall"] - p["epochs"] for p in plain]
    print(f"plain script: wall {spread([p['wall'] for p in plain])}; fixed {spread(plain_fixed)}" if plain else
          f"plain script: none for model {cfg['model']['name']} (only {', '.join(PLAIN_MODELS)})")
    for src, runs in results.items():
        fixed = [x["wall"] - x["epochs"] for x in runs]
        sizes = ", ".join(f"{k}.pt {v / 1e6:.2f} MB" for k, v in sorted(runs[-1]["sizes"].items()))
        print(f"vislab {src}: wall {spread([x['wall'] for x in runs])}; in epochs {spread([x['epochs'] for x in runs])}; "
              f"fixed {spread(fixed)}; {sizes}")
        if plain:
            print(f"  fixed cost beyond the plain script's: {statistics.median(fixed) - statistics.median(plain_fixed):+.2f} s")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
