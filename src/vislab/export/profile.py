"""What a model costs: parameters, FLOPs and activation memory per image at the run's input size, and
latency and throughput at batch 1 and a larger batch on this device, eager and exported (ONNX Runtime)."""

from __future__ import annotations

import copy
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from ..errors import VislabError
from .options import check_profile_batch, require_extra


def load_target(target: str | Path, checkpoint: str, overrides: Optional[dict[str, Any]] = None) -> tuple[nn.Module, Any, Any, str]:
    """(model in eval mode on one device, config, data info, what it is) for a run directory (its
    ``checkpoint``) or a recipe (freshly initialized, no pretrained weights), with dotted ``overrides``."""
    from .. import config as config_mod
    from .. import data, models
    from ..inference import restore, single_device_fabric

    if Path(target).expanduser().is_dir():
        # the saved data_info.json describes the data as it trained; changed data is built to be described
        changes_data = any(k.startswith(("data.", "aug.")) for k in overrides or {})
        r = restore(target, checkpoint, overrides, with_data=changes_data)
        return r.model, r.cfg, r.info, f"{r.run.dir} ({checkpoint})"
    cfg = config_mod.resolve(str(target), {"model.pretrained": False, "model.weights": None, **(overrides or {})})
    info = data.build(cfg.data, cfg.aug).info
    device = single_device_fabric(cfg).device
    return models.build(cfg.model, info).to(device).eval(), cfg, info, f"recipe {target} (initialized)"


def flops(model: nn.Module, x: torch.Tensor) -> int:
    """Floating-point operations of one forward of ``x`` [1, C, H, W] (torch.utils.flop_counter: a
    multiply-add counts 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return int(counter.get_total_flops())


def activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors a training-mode forward of ``x`` [1, C, H, W] keeps for the backward pass
    (each storage once, parameters left out): the activation memory of one image."""
    model = copy.deepcopy(model).train()  # a copy: a training forward moves BatchNorm statistics
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            kept[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(kept.values())


def latency(run: Callable[[], Any], device: torch.device, budget_s: float = 0.25, least: int = 5) -> float:
    """Median seconds of ``run()`` after two warm-up calls: at least ``least`` calls, more while within
    ``budget_s`` (a quarter second per engine and batch size, like torch.utils.benchmark's 0.2 s min_run_time: the
    median of that many calls moves less than the machine's load does)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(2):
        run()
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < least or (time.perf_counter() - start < budget_s and len(times) < 200):
        t = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def timings(model: Callable[[torch.Tensor], Any], example: torch.Tensor, batches: list[int]) -> dict[str, dict[str, float]]:
    """{"batch_N": {"latency_ms", "images_per_s"}} for each batch size, inputs like ``example`` [1, C, H, W]."""
    out = {}
    with torch.inference_mode():
        for n in batches:
            x = example.expand(n, *example.shape[1:]).contiguous()
            seconds = latency(lambda: model(x), example.device)
            out[f"batch_{n}"] = {"latency_ms": seconds * 1e3, "images_per_s": n / seconds}
    return out


def profile(target: str | Path, checkpoint: str = "best", batch: Optional[int] = None, exported: bool = True,
            overrides: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The profile of a run's model or a recipe's, with dotted ``overrides`` (``data.image_size=[512,512]``):
    ``parameters``, ``trainable``, ``flops_per_image``, ``activation_bytes_per_image`` at ``input`` [C, H, W],
    and ``eager`` / ``onnxruntime`` timings at batch 1 and ``batch`` (default the run's evaluation batch size),
    on a CPU with ``threads`` torch threads that wait as ``omp_wait_policy`` says (None: OpenMP's default, spinning)."""
    check_profile_batch(batch)
    from .. import tasks
    from .export import prepare

    model, cfg, info, what = load_target(target, checkpoint, overrides)
    module, example, meta = prepare(model, cfg, info, tasks.build(cfg, info, evaluating=True), dynamic_batch=True, half=False, run_dir=what)
    example = example[:1].normal_(generator=torch.Generator(example.device).manual_seed(0))
    sizes = [1, batch or cfg.train.eval_batch_size or cfg.train.batch_size]
    result: dict[str, Any] = {
        "model": cfg.model.name, "source": what, "device": str(example.device), "input": [info.channels, *meta["input_size"]],
        "threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "flops_per_image": flops(module, example), "activation_bytes_per_image": activation_bytes(model, example),
        "eager": timings(module, example, sizes),
    }
    if exported:
        result["onnxruntime"] = _onnx_timings(module, example, meta, sizes)
    return result


def _onnx_timings(module: nn.Module, example: torch.Tensor, meta: dict[str, Any], sizes: list[int]) -> Any:
    from .export import export_model
    from .runtime import load_exported

    try:
        require_extra("onnx")
    except VislabError as e:
        return str(e)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        export_model(module, example.expand(2, *example.shape[1:]).contiguous(), path, "onnx", meta)
        return timings(load_exported(path, example.device), example, sizes)


def render_profile(result: dict[str, Any], fmt: str = "text") -> str:
    """The profile as aligned lines, or as JSON (``fmt="json"``)."""
    if fmt == "json":
        return json.dumps(result, indent=2) + "\n"
    c, h, w = result["input"]
    lines = [
        f"{result['model']}  {result['source']}  input {c}x{h}x{w}  device {result['device']}",
        f"parameters        {result['parameters']:,} ({result['trainable']:,} trainable)",
        f"FLOPs per image   {result['flops_per_image'] / 1e9:.3f} G",
        f"activations       {result['activation_bytes_per_image'] / 2**20:.2f} MiB per image (kept for backward)",
    ]
    if result["device"] == "cpu":
        wait = "passively" if result["omp_wait_policy"] == "PASSIVE" else "spinning"
        lines.append(f"cpu threads       {result['threads']} (waiting {wait}, as vislab train plans them)")
    for engine in ("eager", "onnxruntime"):
        value = result.get(engine)
        if isinstance(value, str):
            lines.append(f"{engine:<17} {value}")
        elif value:
            for name, t in value.items():
                lines.append(f"{engine:<17} {name:<9} {t['latency_ms']:9.3f} ms  {t['images_per_s']:10.1f} images/s")
    return "\n".join(lines) + "\n"
