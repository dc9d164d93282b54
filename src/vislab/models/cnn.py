"""Small CNNs for small images: the course's MNIST network."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..data.bundle import DataInfo
from ..errors import VislabError
from .common import model_channels, model_classes
from .freeze import default_stem, freeze
from .weights import load_pretrained_file


class MnistCNN(nn.Module):
    """conv 5x5 -> 32, LeakyReLU, BatchNorm, maxpool 2; conv 5x5 -> 64, ReLU, BatchNorm, maxpool 2;
    fc 128, ReLU, dropout, fc -> classes. The flatten size follows the input size and channels.

    Input float [B, C, H, W]; output logits [B, num_classes].
    """

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


def cnn_mnist(cfg: ModelConfig, info: DataInfo) -> nn.Module:
    if info.image_size is None:
        raise VislabError("model cnn-mnist needs images of one size: set aug.resize (e.g. aug.resize=[28,28])")
    if cfg.pretrained:
        raise VislabError("cnn-mnist has no pretrained weights; set model.pretrained=false or pass model.weights=FILE")
    dropout = 0.5 if cfg.dropout is None else cfg.dropout
    model = MnistCNN(model_channels(cfg, info), model_classes(cfg, info), info.image_size, dropout)
    if cfg.weights is not None:
        load_pretrained_file(model, cfg.weights, head="classifier", stem="features.0.weight")
    freeze(model, cfg.freeze, default_stem(model))
    return model
