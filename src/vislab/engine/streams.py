"""Extra training streams a task declares: one batch of each per training step, reproducible from the step.

A stream's epochs roll over independently of the main stream's: the batch at global step g is batch
g mod n of the stream's epoch g div n (n: its batches per epoch). Its order and augmentation come from
(seed, stream, epoch, index) like the main stream's, so a resume at any step continues exactly.
"""

from __future__ import annotations

import zlib
from typing import Any, Iterator, Optional

from ..config import Config
from ..data.bundle import DataBundle
from ..data.loading.loader import Loader
from ..data.loading.seeding import mix_seed
from ..errors import VislabError
from ..tasks.base import Stream


class StreamCursor:
    """Batches of one stream by global step (see the module docstring)."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self.batches: Optional[Iterator[dict[str, Any]]] = None
        self.next_step: Optional[int] = None

    def batch_at(self, global_step: int) -> dict[str, Any]:
        """The stream's batch for training step ``global_step`` (fast when steps come in order)."""
        epoch, step = divmod(global_step, len(self.loader))
        if self.batches is None or step == 0 or global_step != self.next_step:
            self.batches = self.loader.epoch(epoch, step)
        self.next_step = global_step + 1
        return next(self.batches)


def stream_seed(seed: int, name: str) -> int:
    """The seed of stream ``name``: its own, so its order is not the main stream's, and stable across runs."""
    return mix_seed(seed, zlib.crc32(name.encode()))


def stream_cursors(cfg: Config, streams: dict[str, Stream], fabric: Any, bundle: DataBundle) -> dict[str, StreamCursor]:
    """A cursor per declared stream, sharded over processes like the main stream."""
    info = bundle.info
    cursors = {}
    for name, stream in streams.items():
        loader = Loader(
            stream.dataset, stream.batch_size, device=fabric.device, train=True, seed=stream_seed(cfg.train.seed, name),
            rank=fabric.global_rank, world_size=fabric.world_size, num_workers=cfg.data.num_workers,
            mean=info.mean if cfg.aug.normalize else None, std=info.std if cfg.aug.normalize else None,
            batch_transform=stream.batch_transform,
        )
        if len(loader) == 0:
            raise VislabError(f"the task's stream '{name}' has fewer samples than one batch of {stream.batch_size}")
        cursors[name] = StreamCursor(loader)
    return cursors
