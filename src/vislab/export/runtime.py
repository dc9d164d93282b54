"""An exported file (ONNX or TorchScript) loaded as a module that evaluates like the run's model: it takes
float images [B, C, H, W] on any device and answers with what the model answered (a tensor, or a dict of
named tensors), so the task's own ``predict`` and metrics, and the run's predictor, run on it unchanged.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import VislabError
from ..models.contract import Contract
from .options import format_of, require_extra

METADATA_KEY = "vislab"  # the ONNX metadata_props key, and TorchScript's extra file vislab.json


class ExportedModel(nn.Module):
    """An exported file as a module. ``metadata`` is what ``vislab export`` stored with it (task, classes,
    mean/std, input size, outputs ...). The file may have a fixed batch size; larger batches are run in
    pieces of that size. ``output_stride`` is the exported model's, for the padding the task does."""

    def __init__(self, path: Path, metadata: dict[str, Any], runner: Any, batch: int | None) -> None:
        super().__init__()
        self.path, self.metadata, self.runner, self.batch = path, metadata, runner, batch
        self.output_stride = metadata["output_stride"]
        # the contract the task reads (padding to the stride); the heads are the file's outputs
        self.contract = Contract(heads={name: name for name in metadata["outputs"]}, output_stride=self.output_stride)
        self.dtype = getattr(torch, metadata["dtype"])

    def forward(self, image: torch.Tensor, *_: Any) -> Any:
        """image float [B, C, H, W] -> what the exported model's source answered (extra arguments such as
        domain ids are for training and ignored)."""
        pieces = [image] if self.batch is None else image.split(self.batch)
        outputs = [self.runner(piece.to(self.dtype).contiguous()) for piece in pieces]
        joined = [torch.cat([o[i] for o in outputs]).to(image.device) for i in range(len(outputs[0]))]
        names = self.metadata["outputs"]
        if names == ["output"]:
            return joined[0]
        return {**dict(zip(names, joined)), **{key: [] for key in self.metadata.get("empty", [])}}


def load_exported(path: str | Path, device: torch.device | str = "cpu", threads: int | None = None) -> ExportedModel:
    """The exported file at ``path`` (.onnx through ONNX Runtime, .torchscript through torch.jit) ready to
    run on ``device``; a file that is missing, not an export of vislab, or unreadable is bad input.
    ``threads``: ONNX Runtime's intra-op threads (default: its own choice, one per physical core)."""
    path = Path(path).expanduser()
    fmt = format_of(path)
    if not path.is_file():
        raise VislabError(f"exported model {path} does not exist; make it with: vislab export RUN_DIR --format {fmt}")
    device = torch.device(device)
    return _load_onnx(path, device, threads) if fmt == "onnx" else _load_torchscript(path, device)


def _load_onnx(path: Path, device: torch.device, threads: int | None) -> ExportedModel:
    require_extra("onnxruntime")
    import onnxruntime as ort

    available = ort.get_available_providers()
    providers = ["CUDAExecutionProvider"] if device.type == "cuda" and "CUDAExecutionProvider" in available else []
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT warns about every initializer it folds
    options.intra_op_num_threads = threads or 0
    try:
        session = ort.InferenceSession(str(path), options, providers=[*providers, "CPUExecutionProvider"])
    except Exception as e:  # ORT raises its own exception types, one per failure kind
        raise VislabError(f"ONNX Runtime cannot load {path}: {str(e).splitlines()[0]}") from None
    metadata = _parse(path, session.get_modelmeta().custom_metadata_map.get(METADATA_KEY))
    first = session.get_inputs()[0]
    names = [o.name for o in session.get_outputs()]

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        return [torch.from_numpy(y) for y in session.run(names, {first.name: x.detach().cpu().numpy()})]

    batch = first.shape[0] if isinstance(first.shape[0], int) else None
    return ExportedModel(path, metadata, run, batch)


def _load_torchscript(path: Path, device: torch.device) -> ExportedModel:
    extra = {f"{METADATA_KEY}.json": ""}
    try:
        with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export; TorchScript files still load
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except RuntimeError as e:
        raise VislabError(f"{path} is not a readable TorchScript file ({str(e).splitlines()[0]})") from None
    metadata = _parse(path, extra[f"{METADATA_KEY}.json"] or None)

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        with torch.no_grad():
            out = module(x.to(device))
        return list(out) if isinstance(out, (tuple, list)) else [out]

    return ExportedModel(path, metadata, run, None)


def _parse(path: Path, text: str | bytes | None) -> dict[str, Any]:
    if not text:
        raise VislabError(f"{path} carries no vislab metadata (preprocessing, classes); export it with vislab export")
    return json.loads(text)


def check_matches(exported: ExportedModel, info: Any, run_dir: Path) -> None:
    """An exported file must come from a run of the same data: task, classes and channels as ``info``."""
    meta = exported.metadata
    for key in ("class_names", "channels"):
        if meta[key] != getattr(info, key):
            raise VislabError(
                f"{exported.path} was exported from another kind of run than {run_dir}: its {key} differ "
                f"({meta[key]} vs {getattr(info, key)}); export this run with vislab export {run_dir}"
            )
