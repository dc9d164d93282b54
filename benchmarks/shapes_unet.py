"""Acceptance check of the embedded segmentation default, too long for the test suite:
`vislab train shapes-unet` should reach val mIoU >= 0.80 within 180 s of training on 2 CPU cores.

    python benchmarks/shapes_unet.py [key=value ...]

Prints the run's training time, throughput and best val mIoU, and the machine's load average (the
machine may be shared, which slows training down).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import vislab  # noqa: E402
from vislab.cli import split_items  # noqa: E402


def main() -> None:
    _, overrides = split_items(sys.argv[1:], recipe_expected=False)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as runs:
        run = vislab.train("shapes-unet", runs_dir=runs, **{"train.progress": False, **overrides})
        summary, history = run.summary, run.history
    whole = time.perf_counter() - started
    for row in history:
        print(f"epoch {row['epoch']:>2}  val_miou {row['val_miou']:.4f}  train {row['images_per_s']:.0f} img/s  {row['seconds']:.1f} s")
    print(f"load average (1 min) before {load_before:.2f}, after {os.getloadavg()[0]:.2f}; cores {os.cpu_count()}")
    print(f"command {whole:.1f} s, training (with validation) wall_s {summary['wall_s']:.1f} s, "
          f"{summary['train_images_per_s']} train img/s")
    met = summary["best_value"] >= 0.80 and summary["wall_s"] <= 180
    print(f"best val_miou {summary['best_value']:.4f} at epoch {summary['best_epoch']}; "
          f"target val_miou >= 0.80 in <= 180 s: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
