"""Lightning Fabric from ``train.*``: accelerator, devices, nodes, strategy, precision, determinism."""

from __future__ import annotations

import os
from typing import Any, Optional

import torch

from ..config import TrainConfig
from ..errors import VislabError
from ..threads import ThreadPlanner, usable_cores


def make_fabric(cfg: TrainConfig) -> Any:
    """A Fabric for the config, or bad input naming the setting that cannot be honoured here."""
    from lightning_fabric import Fabric

    if cfg.accelerator in ("cuda", "gpu") and not torch.cuda.is_available():
        raise VislabError(f"train.accelerator={cfg.accelerator} but no CUDA device is visible; use train.accelerator=cpu")
    if cfg.precision == "16-mixed" and (cfg.accelerator == "cpu" or not torch.cuda.is_available()):
        raise VislabError("train.precision=16-mixed needs a CUDA device; on CPU use bf16-mixed or 32-true")
    try:
        return Fabric(
            accelerator=cfg.accelerator,
            devices=cfg.devices,
            num_nodes=cfg.num_nodes,
            strategy=cfg.strategy,
            precision=resolve_precision(cfg),
        )
    except (ValueError, RuntimeError, TypeError) as e:
        first = str(e).strip().splitlines()[0]
        raise VislabError(f"train.devices/strategy/precision cannot be used here: {first}") from None


def resolve_precision(cfg: TrainConfig) -> str:
    """``train.precision``, with ``auto`` made concrete for the device the run will use.

    auto: bf16-mixed on GPUs that have bf16 (16-mixed on older ones); 32-true on CPUs. bf16 autocast was
    measured slower on an AVX512-BF16 CPU for every model we train there (benchmarks/cpu_formats.py: x0.89
    cnn-mnist, x0.83 resnet18, x0.89 the shapes UNet); CPUs with AMX were not measured.
    """
    if cfg.precision != "auto":
        return cfg.precision
    if cfg.accelerator in ("auto", "cuda", "gpu") and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def configure_backends(cfg: TrainConfig, fabric: Any) -> None:
    """Determinism or speed (CPU threads are planned by :func:`cpu_threads`)."""
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True
        if fabric.device.type == "cuda":
            torch.set_float32_matmul_precision("high")


def cpu_threads(cfg: TrainConfig, fabric: Any) -> Optional[ThreadPlanner]:
    """The planner of torch's CPU threads for a run on the CPU (None on accelerators), its count set.

    Processes of one machine split its cores; one process alone measures what other processes leave it
    (see vislab.threads). ``train.threads`` and ``OMP_NUM_THREADS`` are the user's word. With
    ``train.deterministic`` the count is the cores alone: the number of threads changes the order of
    floating-point sums, and a deterministic run must not depend on what else the machine was doing.
    """
    if fabric.device.type != "cpu":
        return None
    local = int(os.environ.get("LOCAL_WORLD_SIZE", 0)) or max(1, fabric.world_size // max(1, cfg.num_nodes))
    # usable, not all, cores: a sweep worker is pinned to its share of the machine
    share = max(1, usable_cores() // local)
    fixed = share if local > 1 or cfg.deterministic else None
    planner = ThreadPlanner(cfg.threads if cfg.threads is not None else fixed, share)
    planner.start()
    return planner


def describe_device(fabric: Any) -> str:
    """'cpu', or 'cuda (NVIDIA H100 80GB HBM3)', with the process count when there are several."""
    dev = fabric.device
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else None
    text = f"{dev.type} ({name})" if name else dev.type
    return f"{text} x{fabric.world_size}" if fabric.world_size > 1 else text
