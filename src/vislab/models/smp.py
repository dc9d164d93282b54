"""segmentation_models_pytorch architectures as ``model.name=smp/<arch>:<encoder>``, when that optional
package is installed (``pip install segmentation-models-pytorch``)."""

from __future__ import annotations

from torch import nn

from ..config import ModelConfig
from ..data_info import DataInfo
from ..errors import VislabError
from .common import model_channels, model_classes
from .contract import Contract, declare

PREFIX = "smp/"


READS = ("pretrained",)  # model.* keys smp_model reads


def smp_model(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    """e.g. ``smp/Unet:resnet34``, ``smp/DeepLabV3Plus:efficientnet-b0``; ImageNet encoder weights with
    ``model.pretrained``. Input [B, C, H, W] (padded to multiples of 32 in evaluation); output [B, K, H, W]."""
    arch, _, encoder = cfg.name[len(PREFIX):].partition(":")
    if not arch or not encoder:
        raise VislabError(f"model.name='{cfg.name}': write smp/<arch>:<encoder>, e.g. smp/Unet:resnet34")
    try:
        import segmentation_models_pytorch as smp
    except ImportError:
        raise VislabError(
            f"model.name={cfg.name} needs segmentation_models_pytorch, which is not installed: "
            "pip install segmentation-models-pytorch"
        ) from None
    try:
        model = smp.create_model(
            arch, encoder_name=encoder, encoder_weights="imagenet" if cfg.pretrained else None,
            in_channels=model_channels(cfg, info), classes=model_classes(cfg, info),
        )
    except (KeyError, ValueError) as e:
        raise VislabError(f"model.name={cfg.name}: {str(e).splitlines()[0]}") from None
    except OSError as e:
        raise VislabError(f"model.name={cfg.name}: the encoder's ImageNet weights could not be downloaded ({e}); "
                          "set model.pretrained=false or put them in torch's hub cache") from None
    return declare(model, Contract({"out": "segmentation_head"}, model.encoder.output_stride, ("encoder",), cam_layer="decoder"))
