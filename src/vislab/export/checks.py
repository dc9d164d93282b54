"""The self-check of every export: the exported file and the PyTorch model side by side on the same
validation images (generated ones when the dataset is absent), through the task's own ``predict`` and
metrics. Saved in export.json beside the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import torch

from ..atomic import atomic_write_text
from ..errors import VislabError


def output_tensors(outputs: Any) -> list[torch.Tensor]:
    """The tensors among a model's outputs (a tensor, or a dict's tensor values in key order)."""
    if torch.is_tensor(outputs):
        return [outputs]
    return [v for _, v in sorted(outputs.items()) if torch.is_tensor(v)]


def sample_batches(cfg: Any, fabric: Any, count: int, meta: dict[str, Any]) -> tuple[Iterator[dict], str]:
    """Up to ``count`` validation images as evaluation batches, and where they came from; random images
    at the exported input size (without targets) when the dataset cannot be built here."""
    from .. import data
    from ..engine import make_loader
    from ..engine.evaluation import evaluation_batches

    try:
        bundle = data.build(cfg.data, cfg.aug)
    except VislabError as e:
        return _generated(meta, fabric.device, count), f"{count} generated images (no validation data: {e})"
    loader = make_loader(cfg, bundle.val, fabric, bundle, train=False)
    n = min(count, len(bundle.val))

    def batches() -> Iterator[dict]:
        seen = 0
        for batch in evaluation_batches(loader, cfg.train):
            take = min(n - seen, batch["image"].shape[0])
            yield {k: v[:take] if torch.is_tensor(v) else v for k, v in batch.items()}
            seen += take
            if seen >= n:
                return

    return batches(), f"{n} validation images"


def _generated(meta: dict[str, Any], device: torch.device, count: int) -> Iterator[dict]:
    image = torch.rand(count, meta["channels"], *meta["input_size"], generator=torch.Generator().manual_seed(0))
    if meta["normalize"]:
        image = (image - torch.tensor(meta["mean"]).view(1, -1, 1, 1)) / torch.tensor(meta["std"]).view(1, -1, 1, 1)
    yield {"image": image.to(device)}


@torch.no_grad()
def compare(model: torch.nn.Module, exported: torch.nn.Module, predictor: Any, batches: Iterator[dict]) -> dict[str, Any]:
    """Max absolute difference of the outputs, agreement of the decisions (the predictor's: top-1 or per-pixel
    class), and the task's monitored metric (where the batches have targets) of the PyTorch model and the export."""
    task = predictor.task
    ours, theirs = task.metrics(), task.metrics()
    diff, agree, total, labelled = 0.0, 0, 0, True
    for batch in batches:
        a, b = task.predict(model, batch), task.predict(exported, batch)
        for x, y in zip(output_tensors(a), output_tensors(b)):
            diff = max(diff, float((x.float() - y.float().to(x.device)).abs().max()))
        da, db = predictor.decisions(a), predictor.decisions(b)
        agree += int((da == db.to(da.device)).sum())
        total += da.numel()
        labelled = labelled and "target" in batch
        if labelled:
            ours.update(a, batch)
            theirs.update(b, batch)
    metric = task.monitor
    result: dict[str, Any] = {"max_abs_diff": diff, "agreement": agree / max(total, 1), "metric": metric}
    result["pytorch"] = ours.compute()[metric] if labelled else None
    result["exported"] = theirs.compute()[metric] if labelled else None
    return result


def save_report(path: Path, report: dict[str, Any]) -> Path:
    """Add ``report`` under the exported file's name to export.json in its folder (one entry per file)."""
    target = path.parent / "export.json"
    reports = json.loads(target.read_text()) if target.is_file() else {}
    reports[path.name] = report
    atomic_write_text(target, json.dumps(reports, indent=2) + "\n")
    return target
