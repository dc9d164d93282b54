"""Checkpoints: atomic writes, every random generator, loaded with ``weights_only=True`` only."""

from __future__ import annotations

import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_write
from ..errors import VislabError

__all__ = ["load_checkpoint", "rng_state", "save_checkpoint", "seed_all", "set_rng_state"]

FORMAT = "vislab-checkpoint/1"


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (all devices): the model's initialization follows from the seed."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The python, numpy, torch and CUDA generators, as types ``weights_only`` loading accepts."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class _WriteErrors:
    """A file that remembers its write error: torch.save reports one as a bare RuntimeError, and a
    full disk must reach the user as the OSError it is."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.f, name)


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` (plain containers and tensors) atomically."""

    def write(f: Any) -> None:
        checked = _WriteErrors(f)
        try:
            torch.save({"format": FORMAT, **state}, checked)
        except RuntimeError:
            if checked.error is not None:
                raise checked.error from None
            raise

    atomic_write(path, write)


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint without running any code it might hold; anything else is bad input."""
    path = Path(path)
    if not path.is_file():
        raise VislabError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "refused"
        raise VislabError(f"checkpoint {path} was refused: it holds objects other than tensors and plain data ({first})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise VislabError(f"checkpoint {path} is unreadable or truncated ({type(e).__name__}); use another checkpoint") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise VislabError(f"checkpoint {path} is not a vislab checkpoint")
    return state


def evaluated_weights(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The weights a run's checkpoint is evaluated with: the task's evaluated extra model where the run had one
    (Mean Teacher's teacher; see Task.evaluated_model), else the trained model's."""
    name = checkpoint.get("evaluated_model")
    return checkpoint["extra_models"][name] if name else checkpoint["model"]


def describe_checkpoint(path: Path, checkpoint: dict) -> str:
    """'checkpoint PATH (a resnet18)': the model it was trained as, for messages about a mismatch."""
    trained_as = (checkpoint.get("config") or {}).get("model", {}).get("name", "model of unknown name")
    return f"checkpoint {path} (a {trained_as})"
