"""The training-time writer of the run directory (rank 0 only): metrics.csv, TensorBoard, summary.json."""

from __future__ import annotations

from typing import Any, Optional

from ..runs import Run


class Recorder:
    """Writes what the loop measures. On ranks other than 0 every method does nothing."""

    def __init__(self, run: Run, enabled: bool, purge_step: Optional[int] = None) -> None:
        self.run = run
        self.enabled = enabled
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            # Steps are epochs; purge_step drops the epochs a resumed run is about to log again.
            self.writer = SummaryWriter(log_dir=str(run.dir), purge_step=purge_step)

    def log_epoch(self, history: list[dict[str, Any]]) -> None:
        """Rewrite metrics.csv from the whole history and add the last row to TensorBoard."""
        if not self.enabled:
            return
        self.run.write_history(history)
        row = history[-1]
        if self.writer is not None:
            for k, v in row.items():
                if k != "epoch" and isinstance(v, (int, float)) and v is not None:
                    self.writer.add_scalar(_tb_name(k), v, row["epoch"])
            self.writer.flush()

    def summary(self, best_effort: bool = False, **fields: Any) -> None:
        """Update summary.json; ``best_effort`` (on the way out of a failed run) tolerates a full disk."""
        if not self.enabled:
            return
        try:
            self.run.update_summary(**fields)
        except OSError:
            if not best_effort:
                raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _tb_name(key: str) -> str:
    """val_acc -> acc/val, so TensorBoard overlays train and val of one metric."""
    for split in ("train", "val", "test"):
        if key.startswith(split + "_"):
            return f"{key[len(split) + 1:]}/{split}"
    return key
