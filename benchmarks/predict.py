"""Images/s of ``vislab predict`` over a folder of image files against a plain PyTorch loop.

A digits run (the MNIST CNN) trained for one epoch, then ``--images`` PNG files (digits, written once) read,
resized, normalized and classified: by ``vislab.predict`` (CSV of the top-5 classes) and by the script a user
would write by hand (load best.pt, PIL, a batch of 64, ``torch.inference_mode``, top-5 per image, the same
CSV). Both start from the checkpoint file, as a user's call does. At 8x8 pixels the cost is per file, not per
pixel: vislab's edge is decoding PNGs with libpng (``data.images.read_png``, the same pixels as PIL in half
the time) and running the model in the layout it trained in (channels_last).
Alternated ``--rounds`` times in one process. Last line: ``ratio vislab/plain: R`` (target >= 1).

    python benchmarks/predict.py [--images 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import vislab
from vislab.inference import restore


def write_images(folder: Path, n: int) -> list[Path]:
    """``n`` digit images as 8-bit grayscale PNGs (scikit-learn's digits, 8x8, scaled to 0-255)."""
    from sklearn.datasets import load_digits

    digits = load_digits().images
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{i:05d}.png"
        Image.fromarray((digits[i % len(digits)] * 255 / 16).astype(np.uint8)).save(p)
        paths.append(p)
    return paths


def plain_predict(checkpoint: Path, files: list[Path], size: tuple[int, int], mean: list[float],
                  std: list[float], out: Path) -> None:
    """The script written out by hand: load the weights, then decode, resize, normalize, batch, top-5, CSV."""
    from vislab.models.cnn import MnistCNN

    model = MnistCNN(1, 10, tuple(size))
    model.load_state_dict(torch.load(checkpoint, weights_only=True)["model"])
    model.eval()
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    with open(out, "w", newline="") as f, torch.inference_mode():
        w = csv.writer(f)
        for start in range(0, len(files), 64):
            chunk = files[start : start + 64]
            arrays = [np.asarray(Image.open(p).convert("L").resize(size[::-1], Image.BILINEAR)) for p in chunk]
            x = torch.from_numpy(np.stack(arrays)).unsqueeze(1).float().div_(255)
            probs, classes = model((x - m) / s).softmax(1).topk(5, 1)
            for p, pr, c in zip(chunk, probs.tolist(), classes.tolist()):
                w.writerow([str(p), *(v for ci, q in zip(c, pr) for v in (ci, f"{q:.6f}"))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = vislab.train("digits", runs_dir=tmp / "runs", **{"train.epochs": 1, "train.progress": False})
        files = write_images(tmp / "images", args.images)
        r = restore(run, with_data=False)
        size, mean, std = r.info.image_size, r.info.mean, r.info.std
        ours, plain = [], []
        for i in range(args.rounds + 1):
            t = time.perf_counter()
            vislab.predict(run, [tmp / "images"], out=tmp / "vislab.csv")
            v = args.images / (time.perf_counter() - t)
            t = time.perf_counter()
            plain_predict(run.checkpoint_path("best"), files, size, mean, std, tmp / "plain.csv")
            p = args.images / (time.perf_counter() - t)
            if i:  # the first round warms both up
                ours.append(v)
                plain.append(p)
                print(f"round {i}: vislab {v:,.0f} img/s   plain {p:,.0f} img/s")
    v, p = statistics.median(ours), statistics.median(plain)
    print(f"{args.images} digit PNGs, MNIST CNN, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f}")
    print(f"median: vislab {v:,.0f} img/s   plain {p:,.0f} img/s")
    print(f"ratio vislab/plain: {v / p:.3f}")


if __name__ == "__main__":
    main()
