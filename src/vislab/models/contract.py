"""What every model family states about the module it builds, so tasks and the optimizer need no guessing.

A builder returns its module with a ``Contract`` set by ``declare``; ``contract_of`` reads it back.
``check`` holds a built model to its word: the modules it names
exist, and a forward pass gives exactly the declared heads at the input size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn

from ..errors import VislabError


@dataclass(frozen=True)
class Contract:
    """heads: output name -> the module (dotted name) whose output it is. Segmentation models answer
    ``{"out": [B,K,H,W], "aux": ..., "center": [B,1,H,W], "offset": [B,2,H,W]}`` with these keys; a
    classifier's single head is ``"out"`` and its forward gives the tensor [B, K] itself.
    output_stride: input sides that are multiples of it give outputs aligned with the input (segmentation
    pads evaluation images to it); None for classifiers.
    backbone: the modules pretrained weights cover (``optim.backbone_lr_mult`` scales their rate); empty
    for models trained from scratch only.
    cam_layer: the module whose output class-activation maps read (``vislab explain``): the last feature
    maps that still have a spatial layout, where the maps are both meaningful and fine. Its output is
    [B, C, h, w]; [B, h, w, C] where ``cam_channels_last`` (Swin); or tokens [B, N, C] (ViT), laid back
    on the patch grid by inference.explain.
    """

    heads: dict[str, str]
    output_stride: Optional[int] = None
    backbone: tuple[str, ...] = field(default=())
    cam_layer: Optional[str] = None
    cam_channels_last: bool = False

    @property
    def dense(self) -> bool:
        """Whether the heads are per-pixel maps (segmentation, panoptic)."""
        return self.output_stride is not None


def declare(model: nn.Module, contract: Contract) -> nn.Module:
    """Attach ``contract`` to ``model`` (returned, for chaining)."""
    model.contract = contract
    return model


def classifier(model: nn.Module, head: str, cam_layer: str, cam_channels_last: bool = False) -> nn.Module:
    """Declare a classifier whose class logits come from ``head``, its class-activation maps from ``cam_layer``:
    everything outside the head's top-level module is backbone (what ImageNet weights, or a ``model.weights``
    file, cover)."""
    top = head.split(".")[0]
    backbone = tuple(n for n, m in model.named_children() if n != top and any(True for _ in m.parameters()))
    return declare(model, Contract({"out": head}, backbone=backbone, cam_layer=cam_layer, cam_channels_last=cam_channels_last))


def declared(model: nn.Module) -> Optional[Contract]:
    """The contract of ``model`` as built, or None for a module built outside vislab's families."""
    contract = getattr(model, "contract", None)
    return contract if isinstance(contract, Contract) else None


def contract_of(model: nn.Module) -> Contract:
    """The contract of ``model`` as built (the engine unwraps Fabric's and torch.compile's wrappers first)."""
    contract = declared(model)
    if contract is None:
        raise TypeError(f"{type(model).__name__} was built without a models.contract.Contract")
    return contract


def check(model: nn.Module, in_channels: int, size: tuple[int, int] = (64, 64)) -> dict[str, Any]:
    """Hold ``model`` to its contract on one random batch [2, C, *size]; returns the outputs.

    Raises VislabError naming the first broken promise.
    """
    contract = contract_of(model)
    modules = dict(model.named_modules())
    for name in [*contract.heads.values(), *contract.backbone, *([contract.cam_layer] if contract.cam_layer else [])]:
        if name not in modules:
            raise VislabError(f"{type(model).__name__}: the contract names a module '{name}' that it does not have")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            raw = model(torch.randn(2, in_channels, *size))
    finally:
        model.train(was_training)
    outputs = {k: v for k, v in (raw.items() if isinstance(raw, dict) else [("out", raw)]) if torch.is_tensor(v)}
    if set(outputs) != set(contract.heads):
        raise VislabError(f"{type(model).__name__}: outputs {sorted(outputs)}, the contract says {sorted(contract.heads)}")
    if contract.dense:
        for key, value in outputs.items():
            if tuple(value.shape[-2:]) != tuple(size):
                raise VislabError(f"{type(model).__name__}: head '{key}' is {tuple(value.shape[-2:])}, not the input's {size}")
    return outputs
