"""Domain generalization around any classifier: a domain head beside the class head, MixStyle after
chosen stages, and outputs that tell the loss how styles were mixed.

The classifier is built as for classification (``model.name``, pretrained weights, ``model.freeze``,
``model.dropout`` before the head). With ``model.domain_head`` its final linear layer is replaced by
one that also predicts the domain from the same (dropped-out) features; the class weights keep their
names, so classification weights still load.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..data_info import DataInfo
from ..errors import VislabError
from .common import model_channels, replace_module
from .contract import Contract, contract_of, declare
from .freeze import stage_names, unknown_stage
from .mixstyle import MixStyle


class ClassAndDomainHead(nn.Linear):
    """The class head it replaces (same weights, same dropout on its input) plus a linear domain head
    on the same features: [B, F] -> (class logits [B, K], domain logits [B, D])."""

    def __init__(self, head: nn.Linear, num_domains: int) -> None:
        super().__init__(head.in_features, head.out_features)
        self.load_state_dict(head.state_dict())
        self.dropout = float(getattr(head, "dropout", 0.0))
        self.domain = nn.Linear(head.in_features, num_domains)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        x = F.dropout(x, self.dropout, self.training)
        return F.linear(x, self.weight, self.bias), self.domain(x)


class DomainGeneralizationNet(nn.Module):
    """``forward(x float [B, C, H, W], domains int64 [B] or None)`` -> a dict: ``logits`` [B, K],
    ``domain_logits`` [B, D] (with a domain head), and ``mixes``, the MixStyle mixings of this forward
    in the order applied, each (lam [B], partner [B]) (an empty list in evaluation or without MixStyle)."""

    def __init__(self, net: nn.Module, mixstyle: Optional[MixStyle]) -> None:
        super().__init__()
        self.net = net
        self.mixstyle = mixstyle

    def forward(self, x: torch.Tensor, domains: Optional[torch.Tensor] = None) -> dict:
        if self.mixstyle is not None:
            self.mixstyle.start(domains)
        out = self.net(x)
        mixes = self.mixstyle.finish() if self.mixstyle is not None else []
        logits, domain_logits = out if isinstance(out, tuple) else (out, None)
        result = {"logits": logits, "mixes": mixes}
        if domain_logits is not None:
            result["domain_logits"] = domain_logits
        return result


def add_domain_head(net: nn.Module, num_domains: int) -> str:
    """Put a domain head beside the classifier's class head (its contract names it); returns the head's name."""
    name = contract_of(net).heads["out"]
    head = net.get_submodule(name)
    if not isinstance(head, nn.Linear):
        raise VislabError(f"model.domain_head: {type(net).__name__}'s class head is no linear layer to put a domain head beside")
    replace_module(net, name, ClassAndDomainHead(head, num_domains))
    return name


def attach_mixstyle(net: nn.Module, mixstyle: MixStyle, stages: list[str], info: DataInfo, channels: int) -> None:
    """Hook MixStyle after each stage, checking on a probe image that each gives feature maps [B, C, H, W]."""
    modules = dict(net.named_modules())
    shapes: dict[str, tuple] = {}
    probes = []
    for stage in stages:
        if stage not in modules or stage == "":
            raise unknown_stage(net, stage, "model.mixstyle.layers", with_stem=False)
        probes.append(modules[stage].register_forward_hook(
            lambda m, i, out, stage=stage: shapes.__setitem__(stage, tuple(out.shape) if torch.is_tensor(out) else ())))
    was_training = net.training
    net.eval()  # the probe must not count as a batch in BatchNorm statistics
    try:
        with torch.no_grad():
            net(torch.zeros(2, channels, *(info.image_size or (64, 64))))
    finally:
        net.train(was_training)
        for handle in probes:
            handle.remove()
    for stage in stages:
        if len(shapes.get(stage, ())) != 4:
            raise VislabError(
                f"model.mixstyle.layers: stage '{stage}' gives {list(shapes.get(stage, ())) or 'no tensor'}, not feature maps "
                f"[B, C, H, W]; choose among {', '.join(stage_names(net))}"
            )
        modules[stage].register_forward_hook(mixstyle.hook)


def with_domains(net: nn.Module, cfg: ModelConfig, info: DataInfo) -> nn.Module:
    """The classifier ``net`` wrapped in a DomainGeneralizationNet with the domain head and MixStyle ``cfg``
    asks for (the domain-generalization task builds its model so)."""
    inner = contract_of(net)
    heads = {"logits": "net." + inner.heads["out"]}
    if cfg.domain_head:
        heads["domain_logits"] = "net." + add_domain_head(net, len(info.domains or [])) + ".domain"
    mixstyle = MixStyle(cfg.mixstyle) if cfg.mixstyle is not None else None
    if mixstyle is not None:
        attach_mixstyle(net, mixstyle, cfg.mixstyle.layers, info, model_channels(cfg, info))
    backbone = tuple("net." + name for name in inner.backbone)
    return declare(DomainGeneralizationNet(net, mixstyle),
                   Contract(heads, backbone=backbone, cam_layer="net." + inner.cam_layer, cam_channels_last=inner.cam_channels_last))
