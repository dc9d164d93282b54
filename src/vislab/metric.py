"""Metric: an accumulator whose states are summed or concatenated over batches, and over processes when computed.

Every run metric (accuracy, calibration error, confusion matrices, panoptic counts) is one. A subclass declares
its states with ``add_state``, adds to them in ``update`` and says in ``value`` what they come to. ``compute`` is
``value`` over every process's states when torch.distributed runs more than one process; ``value`` alone is this
process's own running result (the progress display's, which must not wait for the other processes).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

REDUCTIONS = ("sum", "cat")


class Metric:
    """States declared with ``add_state``: a "sum" state is a tensor added to in ``update``; a "cat" state is a
    list of tensors appended to in ``update`` and read joined (``joined``) along dim 0."""

    def __init__(self) -> None:
        self._defaults: dict[str, torch.Tensor] = {}
        self._reductions: dict[str, str] = {}

    def add_state(self, name: str, default: torch.Tensor, dist_reduce_fx: str = "sum") -> None:
        """Declare state ``name``: a "sum" state starts as ``default``; a "cat" state starts empty, and
        ``default``, an empty tensor [0, ...], gives its dtype and trailing shape when nothing was appended."""
        if dist_reduce_fx not in REDUCTIONS:
            raise ValueError(f"dist_reduce_fx must be one of {REDUCTIONS}, not {dist_reduce_fx!r}")
        self._defaults[name], self._reductions[name] = default, dist_reduce_fx
        setattr(self, name, self._fresh(name))

    def _fresh(self, name: str) -> Any:
        return self._defaults[name].clone() if self._reductions[name] == "sum" else []

    def update(self, *args: Any) -> None:
        """Add one batch to the states."""
        raise NotImplementedError

    def value(self) -> Any:
        """What the states held now come to: this process's own result, unless called from ``compute``."""
        raise NotImplementedError

    def joined(self, name: str) -> torch.Tensor:
        """The "cat" state ``name`` as one tensor [N, ...]."""
        return torch.cat([self._defaults[name], *getattr(self, name)])

    def compute(self) -> Any:
        """``value`` over the states of every process; this object keeps its own states."""
        if not _several_processes():
            return self.value()
        own = {name: getattr(self, name) for name in self._reductions}
        try:
            for name, reduction in self._reductions.items():
                setattr(self, name, _all_sum(own[name]) if reduction == "sum" else [_all_cat(self.joined(name))])
            return self.value()
        finally:
            for name, state in own.items():
                setattr(self, name, state)

    def reset(self) -> None:
        """Back to the states before any update (a new epoch)."""
        for name in self._reductions:
            setattr(self, name, self._fresh(name))

    def to(self, device: torch.device | str) -> "Metric":
        """The states (and the defaults that ``reset`` restores) on ``device``."""
        self._defaults = {name: d.to(device) for name, d in self._defaults.items()}
        for name, reduction in self._reductions.items():
            state = getattr(self, name)
            setattr(self, name, state.to(device) if reduction == "sum" else [t.to(device) for t in state])
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The states by name ("cat" states joined), for a mid-epoch checkpoint."""
        return {name: getattr(self, name) if r == "sum" else self.joined(name) for name, r in self._reductions.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """The states of ``state_dict``, on the device of this metric's own. A key that names no state of this
        metric is left out: checkpoints written while vislab's metrics were torchmetrics' hold counts beside
        the ones kept here (an accuracy's false positives and true negatives)."""
        for name, value in state.items():
            if name in self._reductions:
                value = value.clone().to(self._defaults[name].device)
                setattr(self, name, value if self._reductions[name] == "sum" else [value])


def _several_processes() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _gathered(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every process's ``tensor`` (of one shape on all), in rank order. NCCL moves CUDA tensors only: a
    process that was fed nothing holds its states where they were created, on the CPU."""
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    parts = [torch.empty_like(tensor, device=device) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.to(device))
    return [p.to(tensor.device) for p in parts]


def _all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The sum over processes, added in rank order so that every process gets the same bits."""
    return torch.stack(_gathered(tensor)).sum(0)


def _all_cat(tensor: torch.Tensor) -> torch.Tensor:
    """Every process's ``tensor`` [n_rank, ...] joined along dim 0 in rank order (the lengths may differ)."""
    lengths = _gathered(torch.tensor([len(tensor)], device=tensor.device))
    longest = int(max(lengths))
    padded = torch.cat([tensor, tensor.new_zeros(longest - len(tensor), *tensor.shape[1:])])
    return torch.cat([part[: int(n)] for part, n in zip(_gathered(padded), lengths)])
