"""Any timm model as ``timm/<name>`` (``timm/resnet50.a1_in1k``, ``timm/convnext_tiny``, ...).

timm builds the head for the data's classes, adapts the stem to its channels and applies ``model.dropout``
(drop_rate) and ``model.drop_path`` (drop_path_rate) itself. Pretrained weights come from the Hugging Face
Hub into its cache; offline that is bad input naming the repository and file, or ``model.weights`` loads
a local file instead.
"""

from __future__ import annotations

import difflib
import re

from torch import nn

from ..config import ModelConfig
from ..data_info import DataInfo
from ..errors import VislabError
from .common import model_channels, model_classes
from .contract import classifier
from .freeze import default_stem, first_conv, freeze
from .weights import load_pretrained_file

PREFIX = "timm/"


def unknown(name: str) -> VislabError:
    import timm

    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
    hint = f"did you mean {', '.join(PREFIX + c for c in close)}?" if close else "`timm.list_models()` lists them"
    return VislabError(f"unknown model model.name='{PREFIX}{name}': {hint}")


def offline_error(name: str, e: Exception) -> VislabError:
    from huggingface_hub.constants import HF_HUB_CACHE
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    repo = getattr(cfg, "hf_hub_id", None) or name
    return VislabError(
        f"the pretrained weights of {PREFIX}{name} are not in the Hugging Face cache ({HF_HUB_CACHE}) and could not "
        f"be downloaded ({type(e).__name__}); download model.safetensors from https://huggingface.co/{repo} "
        "and pass model.weights=PATH"
    )


def stem_of(model: nn.Module) -> list[str]:
    """The modules timm's group matcher calls the stem (top-level names), else the first convolution's."""
    matcher = getattr(model, "group_matcher", None)
    pattern = matcher(coarse=True).get("stem") if matcher else None
    if isinstance(pattern, str):
        names = [n for n, _ in model.named_children() if re.match(pattern, n)]
        if names:
            return names
    return default_stem(model)


def cam_layer(model: nn.Module) -> str:
    """The module class-activation maps read: the last feature map timm reports (``feature_info``); in a
    transformer whose head reads prefix tokens only, the last block's first norm, as pytorch-grad-cam's
    ViT recipe does (the last block's patch tokens get no gradient from such a head)."""
    last = model.feature_info[-1]["module"]
    if getattr(model, "num_prefix_tokens", 0) and getattr(model, "global_pool", None) == "token":
        return f"{last}.norm1"
    return last


READS = ("pretrained", "weights", "dropout", "drop_path", "freeze")  # model.* keys ``build`` reads


def build(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    try:
        import timm
    except ImportError:
        raise VislabError(f"model.name={cfg.name} needs timm: pip install 'vislab[timm]' (or pip install timm)") from None
    name = cfg.name[len(PREFIX):]
    if not timm.is_model(name.split(".")[0]):
        raise unknown(name)
    kwargs = {"num_classes": model_classes(cfg, info), "in_chans": model_channels(cfg, info)}
    if cfg.dropout is not None:
        kwargs["drop_rate"] = cfg.dropout
    if cfg.drop_path:  # 0 is off, which every model is
        kwargs["drop_path_rate"] = cfg.drop_path
    pretrained = cfg.pretrained and cfg.weights is None
    try:
        model = timm.create_model(name, pretrained=pretrained, **kwargs)
    except TypeError as e:
        if "drop_path_rate" in str(e):
            raise VislabError(f"{cfg.name} has no stochastic depth; set model.drop_path=null") from None
        raise
    except (OSError, RuntimeError) as e:
        if pretrained:
            raise offline_error(name, e) from None
        raise
    head = model.pretrained_cfg.get("classifier") or "head"
    if cfg.weights is not None:
        load_pretrained_file(model, cfg.weights, head=tuple(head) if isinstance(head, (list, tuple)) else head,
                             stem=first_conv(model) + ".weight")
    freeze(model, cfg.freeze, stem_of(model))
    return classifier(model, head if isinstance(head, str) else head[0],  # distilled models: the class head first
                      cam_layer(model), getattr(model, "output_fmt", "NCHW") == "NHWC")
