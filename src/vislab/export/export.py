"""Writing a run's model as an ONNX or TorchScript file that carries its preprocessing as metadata.

The file takes float images [B, C, H, W], normalized as ``metadata["mean"]``/``["std"]`` say (when
``normalize``), at ``input_size`` (classification) or any size that is a multiple of ``output_stride``
(segmentation, whose height and width are dynamic). Its outputs are the model's tensors by name:
``output`` for a classifier, ``logits`` (and ``domain_logits``) for domain generalization, the heads the
task evaluates (``out``; ``center``, ``offset`` for panoptic) for segmentation. Panoptic grouping stays in
Python (tasks.panoptic), run on these outputs.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional

import torch
from torch import nn

from ..meta import __version__
from ..errors import VislabError
from .options import DEFAULT_OPSET, SUFFIXES, check_options
from .runtime import METADATA_KEY

DEFAULT_SIZE = 256  # example input side for segmentation runs whose images vary in size


class Exportable(nn.Module):
    """The model as the exporters want it: one image tensor in, a tensor or a tuple of tensors out."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, image: torch.Tensor) -> Any:
        out = self.model(image)
        return tuple(out[n] for n in self.names) if isinstance(out, dict) else out


def output_layout(outputs: Any, heads: Optional[tuple[str, ...]]) -> tuple[list[str], list[str]]:
    """(names of the tensors to export, names of the outputs that are empty lists in evaluation) from one
    evaluation-mode answer of the model; ``heads``: the only dict keys the task evaluates (None: all)."""
    if torch.is_tensor(outputs):
        return ["output"], []
    names = [k for k, v in outputs.items() if torch.is_tensor(v) and (heads is None or k in heads)]
    return names, [k for k, v in outputs.items() if isinstance(v, list) and not v]


def input_size(cfg: Any, info: Any, stride: int) -> tuple[int, int]:
    """(H, W) of the example input: the data's fixed size, else ``aug.resize``, else DEFAULT_SIZE; rounded
    up to a multiple of the model's ``stride``."""
    from ..data.augment.per_sample import size_hw

    h, w = info.image_size or (size_hw(cfg.aug.resize) if cfg.aug.resize is not None else (DEFAULT_SIZE, DEFAULT_SIZE))
    return h + -h % stride, w + -w % stride


def metadata(cfg: Any, info: Any, names: list[str], empty: list[str], size: tuple[int, int], stride: int,
             dynamic: dict[str, bool], half: bool, run_dir: str) -> dict[str, Any]:
    """What a deployment needs beside the weights: preprocessing, classes, the outputs' meaning."""
    return {
        "format": "vislab-export/1", "vislab": __version__, "run": run_dir, "model": cfg.model.name,
        "task": info.task, "input_size": list(size), "channels": info.channels,
        "normalize": bool(cfg.aug.normalize), "mean": list(info.mean), "std": list(info.std),
        "pixel_scale": 1 / 255, "resize": cfg.aug.resize, "class_names": list(info.class_names),
        "ignore_index": info.ignore_index, "thing_classes": info.thing_classes, "outputs": names, "empty": empty,
        "output_stride": stride, "dynamic_batch": dynamic["batch"], "dynamic_size": dynamic["size"],
        "dtype": "float16" if half else "float32",
    }


def export_model(
    model: nn.Module, example: torch.Tensor, path: Path, fmt: str, meta: dict[str, Any], opset: int = DEFAULT_OPSET
) -> None:
    """Write ``model`` (taking ``example``-like images [B, C, H, W]) to ``path`` as ``fmt`` with ``meta``
    stored in the file; batch and spatial dimensions are dynamic where ``meta`` says so. The file appears
    whole or not at all. An operator the format lacks is bad input naming it and ``meta["model"]``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # a deployable file, readable as any other the user writes (mkstemp makes 0600)
    try:
        with quiet(), failures_named(meta["model"], fmt):
            if fmt == "onnx":
                _write_onnx(model, example, Path(tmp), meta, opset)
            else:
                _write_torchscript(model, example, Path(tmp), meta)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _write_onnx(model: nn.Module, example: torch.Tensor, path: Path, meta: dict[str, Any], opset: int) -> None:
    import onnx
    from torch.export import Dim

    axes = {0: Dim.AUTO} if meta["dynamic_batch"] else {}
    if meta["dynamic_size"]:
        axes.update({2: Dim.AUTO, 3: Dim.AUTO})
    # dynamo=True is torch's current exporter (torch.export, then onnxscript); the TorchScript-based one is deprecated
    torch.onnx.export(
        model, (example,), str(path), input_names=["image"], output_names=meta["outputs"], opset_version=opset,
        dynamo=True, external_data=False, dynamic_shapes={"image": axes} if axes else None, verbose=False,
    )
    proto = onnx.load(str(path))
    proto.metadata_props.add(key=METADATA_KEY, value=json.dumps(meta))
    onnx.save(proto, str(path))


def _write_torchscript(model: nn.Module, example: torch.Tensor, path: Path, meta: dict[str, Any]) -> None:
    traced = torch.jit.trace(model, example, check_trace=False)
    torch.jit.save(traced, str(path), _extra_files={f"{METADATA_KEY}.json": json.dumps(meta)})


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The exporters print progress and deprecation notes; a user sees vislab's one line instead."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


_OP = re.compile(r"torch\.ops\.(\w+\.\w+)|aten::(\w+)|No ONNX function found for <OpOverload\(op='([\w.]+)'")


@contextlib.contextmanager
def failures_named(model: str, fmt: str) -> Iterator[None]:
    """An operator the exporter cannot translate -> bad input naming the operator and the model."""
    try:
        yield
    except Exception as e:  # the exporters raise many types (ConversionError, TorchExportError, RuntimeError...)
        found = _OP.search(str(e))
        if found is None:
            raise
        op = next(g for g in found.groups() if g)
        other = "torchscript" if fmt == "onnx" else "onnx"
        raise VislabError(
            f"cannot export model {model} to {fmt}: the format has no translation for operator {op}; "
            f"try --format {other}, or replace that operation in the model"
        ) from None


def default_path(run_dir: Path, source: str, fmt: str) -> Path:
    """RUN_DIR/export/<source>.onnx or .torchscript (source: the checkpoint, and _ema for its EMA weights)."""
    return run_dir / "export" / f"{source}{SUFFIXES[fmt]}"


def prepare(model: nn.Module, cfg: Any, info: Any, task: Any, dynamic_batch: bool, half: bool,
            run_dir: str) -> tuple[nn.Module, torch.Tensor, dict[str, Any]]:
    """(the module to export, an example input [B, C, H, W] on the model's device, the metadata)."""
    from ..models.contract import contract_of

    contract = contract_of(model)
    dense = contract.dense  # per-pixel maps: images of any size, windows, padding to the stride
    stride = contract.output_stride or 1  # as the segmentation task pads for it
    size = input_size(cfg, info, stride)
    model = model.half() if half else model
    device = next(model.parameters()).device
    dtype = torch.float16 if half else torch.float32
    example = torch.zeros(2 if dynamic_batch else 1, info.channels, *size, device=device, dtype=dtype)
    with torch.no_grad():
        names, empty = output_layout(model.eval()(example), task.heads if dense else None)
    meta = metadata(cfg, info, names, empty, size, stride, {"batch": dynamic_batch, "size": dense}, half, run_dir)
    return Exportable(model, names).eval(), example, meta


def export_run(
    run: Any, fmt: str = "onnx", checkpoint: str = "best", out: Optional[str | Path] = None,
    dynamic_batch: bool = False, opset: Optional[int] = None, half: bool = False, samples: int = 32,
    weights: str = "raw",
) -> dict[str, Any]:
    """Export a run's ``checkpoint``, its trained or EMA ``weights`` (as ``vislab eval --weights`` chooses them),
    as ``fmt`` (default RUN_DIR/export/<checkpoint>[_ema].<fmt suffix>; ONNX at ``opset``, default
    options.DEFAULT_OPSET), then check it against PyTorch on ``samples`` validation images; returns the check,
    also saved in export.json beside the file (``file``, ``max_abs_diff``, ``agreement``, the monitored metric
    both ways ...)."""
    path = check_options(fmt, out, opset)
    from ..inference import restore, weights_source
    from .checks import compare, sample_batches, save_report
    from .runtime import load_exported

    r = restore(run, checkpoint, with_data=False, weights=weights)
    path = path or default_path(r.run.dir, weights_source(checkpoint, weights), fmt)
    task = r.task
    module, example, meta = prepare(r.model, r.cfg, r.info, task, dynamic_batch, half, str(r.run.dir))
    meta.update(checkpoint=checkpoint, weights=weights)
    export_model(module, example, path, fmt, meta, opset or DEFAULT_OPSET)
    batches, source = sample_batches(r.cfg, r.fabric, samples, meta)
    report = {"file": str(path), "format": fmt, "checkpoint": checkpoint, "weights": weights, "sample": source,
              **compare(r.model.float(), load_exported(path, r.fabric.device), r.predictor(), batches)}
    report["report"] = str(save_report(path, report))
    return report
