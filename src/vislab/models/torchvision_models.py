"""Any torchvision classification model by its name (``resnet18``, ``efficientnet_v2_s``, ...).

The ImageNet head is replaced by one for the data's classes, the first convolution adapted to the data's
channels; ``model.pretrained`` downloads torchvision's default weights into torch hub's cache (offline:
bad input naming the file and the folder to put it in), ``model.weights`` loads a local file instead.
"""

from __future__ import annotations

import functools
import urllib.error
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..data_info import DataInfo
from ..errors import VislabError
from .common import model_channels, model_classes, replace_module
from .contract import classifier
from .freeze import default_stem, first_conv, freeze
from .weights import adapt_input_channels, load_pretrained_file


@functools.lru_cache(maxsize=1)
def names() -> tuple[str, ...]:
    """torchvision's classification model names."""
    import torchvision.models

    return tuple(torchvision.models.list_models(module=torchvision.models))


class Head(nn.Linear):
    """The classifier: dropout on its input, then a linear layer (the same state-dict keys as nn.Linear)."""

    def __init__(self, in_features: int, out_features: int, dropout: float) -> None:
        super().__init__(in_features, out_features)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.dropout(x, self.dropout, self.training))


def replace_head(model: nn.Module, classes: int, dropout: float | None) -> str:
    """Swap the ImageNet classifier (the last Linear with 1000 outputs) for ``classes`` outputs; returns its name.

    ``dropout`` sets the model's own dropout before the head where it has one (efficientnet), else the
    new head applies it; None keeps the model's default.
    """
    heads = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and m.out_features == 1000]
    if not heads:
        raise VislabError(f"{type(model).__name__} has no linear ImageNet classifier to replace; choose another model")
    name = heads[-1]
    old = model.get_submodule(name)
    parent, _, child = name.rpartition(".")
    container = model.get_submodule(parent) if parent else model
    siblings = [n for n, _ in container.named_children()]
    before = container.get_submodule(siblings[siblings.index(child) - 1]) if siblings.index(child) > 0 else None
    own_dropout = isinstance(container, nn.Sequential) and isinstance(before, nn.Dropout)
    if own_dropout and dropout is not None:
        before.p = dropout
    replace_module(model, name, Head(old.in_features, classes, 0.0 if own_dropout else dropout or 0.0))
    return name


def adapt_stem(model: nn.Module, channels: int) -> str:
    """Make the first convolution take ``channels`` inputs (its weights summed or repeated); returns its name."""
    name = first_conv(model)
    conv = model.get_submodule(name)
    if conv.in_channels != channels:
        new = nn.Conv2d(
            channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups,
            conv.bias is not None, conv.padding_mode,
        )
        with torch.no_grad():
            new.weight.copy_(adapt_input_channels(conv.weight, channels))
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
        replace_module(model, name, new)
    return name


def pretrained_weights(name: str):
    """torchvision's default weights for ``name``, their file downloaded into torch hub's cache if absent."""
    import torchvision.models

    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError, AttributeError):
        raise VislabError(f"torchvision has no pretrained weights for {name}; set model.pretrained=false") from None
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / Path(weights.url).name
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(weights.url, str(path), progress=False)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            raise VislabError(
                f"the pretrained weights of {name} are not on disk and could not be downloaded "
                f"({getattr(e, 'reason', e)}); download {weights.url} and put it in {folder} "
                f"(as {path.name}), or pass model.weights=FILE"
            ) from None
    return weights


# Where each torchvision architecture's last spatial feature maps come out, by name prefix (longest first).
CAM_LAYERS = {
    "resnet": "layer4", "resnext": "layer4", "wide_resnet": "layer4", "regnet": "trunk_output",
    "shufflenet": "conv5", "mnasnet": "layers", "googlenet": "inception5b", "inception": "Mixed_7c",
    "maxvit": "blocks", "swin": "norm", "alexnet": "features", "vgg": "features", "densenet": "features",
    "efficientnet": "features", "mobilenet": "features", "convnext": "features", "squeezenet": "features",
}


def cam_layer(name: str, model: nn.Module) -> str:
    """The module class-activation maps read in torchvision's ``name`` (``CAM_LAYERS``); a ViT's last encoder
    block's first norm, as pytorch-grad-cam's ViT recipe (its head reads the class token only)."""
    if name.startswith("vit"):
        return f"encoder.layers.{list(model.encoder.layers.named_children())[-1][0]}.ln_1"
    return next(CAM_LAYERS[p] for p in sorted(CAM_LAYERS, key=len, reverse=True) if name.startswith(p))


READS = ("pretrained", "weights", "dropout", "drop_path", "freeze")  # model.* keys ``build`` reads


def build(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    """The model named ``cfg.name``, with its head and first convolution fitted to the data."""
    import torchvision.models

    kwargs = {"stochastic_depth_prob": cfg.drop_path} if cfg.drop_path else {}  # 0 is off, which every model is
    weights = pretrained_weights(cfg.name) if cfg.pretrained and cfg.weights is None else None
    try:
        model = torchvision.models.get_model(cfg.name, weights=weights, **kwargs)
    except TypeError as e:
        if "stochastic_depth_prob" in str(e):
            raise VislabError(f"{cfg.name} has no stochastic depth; set model.drop_path=null") from None
        raise
    except RuntimeError as e:  # a damaged file in the hub cache
        raise VislabError(f"the cached pretrained weights of {cfg.name} are unreadable ({str(e).splitlines()[0]}); "
                          f"delete them from {Path(torch.hub.get_dir()) / 'checkpoints'} to download them anew") from None
    head = replace_head(model, model_classes(cfg, info), cfg.dropout)
    stem = adapt_stem(model, model_channels(cfg, info))
    if cfg.weights is not None:
        load_pretrained_file(model, cfg.weights, head=head, stem=stem + ".weight")
    freeze(model, cfg.freeze, default_stem(model))
    return classifier(model, head, cam_layer(cfg.name, model), cam_channels_last=cfg.name.startswith("swin"))
