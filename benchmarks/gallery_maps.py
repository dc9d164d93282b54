"""What eval.explain costs: the galleries' class-activation maps as a share of a run's end-of-training evaluation.

    python benchmarks/gallery_maps.py RUN_DIR [--method gradcam] [--repeats 3]

On a finished run (its best.pt), times the work training does after its last epoch with plain galleries (val and
test metrics, the task's artifacts, the per-image records), then the task's artifacts again with
``eval.explain=METHOD``, counting only the time spent in the map code (vislab.cam.gallery_maps and beside, timed
where the tasks call them). Wall and CPU (process) seconds, medians over the repeats; the load average beside
them, as the wall times on a shared machine say little without it. Last line: ``maps / evaluation: W% wall, C% CPU``.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import vislab.tasks.classification.artifacts as classification_artifacts
import vislab.tasks.classification.task as classification_task
import vislab.tasks.segmentation.task as segmentation_task
from vislab import cam
from vislab.engine import evaluate, make_loader, predictions
from vislab.engine.sample_records import RecordRows
from vislab.inference import restore

SPENT = [0.0, 0.0]  # wall and CPU seconds in the map code since the last reset


def timed(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[0] += time.perf_counter() - wall
            SPENT[1] += time.process_time() - cpu
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--method", default="gradcam")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for module in (classification_task, classification_artifacts, segmentation_task):
        for name in ("gallery_maps", "beside"):
            if hasattr(module, name):
                setattr(module, name, timed(getattr(module, name)))
    r = restore(args.run, "best")
    cfg, fabric, task, model, bundle = r.cfg, r.fabric, r.task, r.model, r.bundle
    out = Path(tempfile.mkdtemp())

    def finalize() -> None:
        loader = make_loader(cfg, bundle.val, fabric, bundle, train=False, sharded=False)
        task.finalize(out, predictions(model, loader, task, fabric, cfg), bundle, model)

    def evaluation() -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        splits = {s: getattr(bundle, s) for s in ("val", "test") if getattr(bundle, s) is not None and len(getattr(bundle, s))}
        for split, dataset in splits.items():  # the records come from these passes, as training makes them
            rows = RecordRows(task)
            evaluate(model, make_loader(cfg, dataset, fabric, bundle, train=False), task, fabric, cfg, each=rows)
            rows.write(out, split)
        finalize()
        return time.perf_counter() - wall, time.process_time() - cpu

    rows = []
    for repeat in range(args.repeats):
        task.explain = None
        wall, cpu = evaluation()
        task.explain = cam.gallery_method(args.method)
        SPENT[:] = [0.0, 0.0]
        finalize()
        rows.append((wall, cpu, *SPENT))
        print(f"repeat {repeat}: evaluation {wall:.2f} s wall, {cpu:.2f} s CPU; maps {SPENT[0]:.3f} s wall, {SPENT[1]:.3f} s CPU")
    wall, cpu, maps_wall, maps_cpu = (statistics.median(c) for c in zip(*rows))
    print(f"median: evaluation {wall:.2f} s wall, {cpu:.2f} s CPU; maps {maps_wall:.3f} s wall, {maps_cpu:.3f} s CPU; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"maps / evaluation: {100 * maps_wall / wall:.1f}% wall, {100 * maps_cpu / cpu:.1f}% CPU")


if __name__ == "__main__":
    main()
