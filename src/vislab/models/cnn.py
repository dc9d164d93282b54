"""Small CNNs for small images: the course's MNIST network, and the Digits-DG network."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..data_info import DataInfo
from ..errors import VislabError
from .common import model_channels, model_classes
from .contract import classifier
from .freeze import default_stem, first_conv, freeze
from .weights import load_pretrained_file


class MnistCNN(nn.Module):
    """conv 5x5 -> 32, LeakyReLU, BatchNorm, maxpool 2; conv 5x5 -> 64, ReLU, BatchNorm, maxpool 2;
    fc 128, ReLU, dropout, fc -> classes. The flatten size follows the input size and channels.

    Input float [B, C, H, W]; output logits [B, num_classes].
    """

    CAM_LAYER = "features.6"  # the last convolution's BatchNorm, before its pooling halves the map

    def __init__(self, in_channels: int, num_classes: int, image_size: tuple[int, int], dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2),
            nn.LeakyReLU(),
            nn.BatchNorm2d(32),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2),
            nn.ReLU(),
            nn.BatchNorm2d(64),
            nn.MaxPool2d(2),
        )
        with torch.no_grad():
            self.features.eval()  # the size probe must not count as a batch in the BatchNorm statistics
            flat = self.features(torch.zeros(1, in_channels, *image_size)).numel()
            self.features.train()
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(flat, 128), nn.ReLU(), nn.Dropout(dropout))
        self.classifier = nn.Linear(128, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class DigitsConvNet(nn.Module):
    """The Digits-DG network of Dassl's MixStyle experiments at half its width (for CPUs), with BatchNorm:
    four blocks ``block1`` to ``block4``, each conv 3x3 -> 32, BatchNorm, ReLU, maxpool 2; then flatten,
    dropout, fc -> classes.

    Input float [B, C, H, W] (H and W at least 16); output logits [B, num_classes].
    """

    CAM_LAYER = "block4.2"  # the last convolution's ReLU, before its pooling halves the map

    def __init__(self, in_channels: int, num_classes: int, image_size: tuple[int, int], dropout: float = 0.0):
        super().__init__()
        if min(image_size) < 16:
            raise VislabError(f"cnn-dg needs images of at least 16x16, these are {image_size[0]}x{image_size[1]}; set aug.resize")
        width = 32
        for i, cin in enumerate((in_channels, width, width, width), start=1):
            block = nn.Sequential(nn.Conv2d(cin, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2))
            self.add_module(f"block{i}", block)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(width * (image_size[0] // 16) * (image_size[1] // 16), num_classes)

    def forward_maps(self, x: torch.Tensor) -> torch.Tensor:
        return self.block4(self.block3(self.block2(self.block1(x))))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.forward_maps(x).flatten(1))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def small_cnn(cls: type, name: str, cfg: ModelConfig, info: DataInfo, dropout: float) -> nn.Module:
    """``cls(channels, classes, image_size, dropout)``, from ``model.weights`` when given, with ``model.freeze``;
    its class-activation maps read ``cls.CAM_LAYER``."""
    if info.image_size is None:
        raise VislabError(f"model {name} needs images of one size: set aug.resize (e.g. aug.resize=[28,28])")
    if cfg.pretrained:
        raise VislabError(f"{name} has no pretrained weights; set model.pretrained=false or pass model.weights=FILE")
    model = cls(model_channels(cfg, info), model_classes(cfg, info), info.image_size, dropout if cfg.dropout is None else cfg.dropout)
    if cfg.weights is not None:
        load_pretrained_file(model, cfg.weights, head="classifier", stem=first_conv(model) + ".weight")
    freeze(model, cfg.freeze, default_stem(model))
    return classifier(model, "classifier", cls.CAM_LAYER)


READS = ("pretrained", "weights", "dropout", "freeze")  # model.* keys small_cnn reads


def cnn_mnist(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    return small_cnn(MnistCNN, "cnn-mnist", cfg, info, dropout=0.5)


def cnn_dg(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    return small_cnn(DigitsConvNet, "cnn-dg", cfg, info, dropout=0.0)
