"""The image encoder: any timm backbone, its last feature map kept as spatial tokens.

The paper uses ResNet-50 (2048-d pooled); ``model.image.arch`` picks any timm model (resnet18 /
mobilenetv3_small_100 for CPU runs). Pretrained weights only from a local file or ``packaged:<name>``
(ImageNet weights from an installed package) through :func:`shared.weights.load_pretrained`, with the
input normalisation those weights expect in front (:func:`shared.weights.with_input_of`).
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from shared.errors import ConfigError
from shared.weights import load_pretrained, with_input_of


class ImageEncoder(nn.Module):
    def __init__(self, arch: str = "resnet18", pretrained: str | None = None, pretrained_partial: bool = False) -> None:
        super().__init__()
        if not timm.is_model(arch):
            raise ConfigError(f"unknown image encoder {arch!r}: not a timm model name")
        self.backbone = timm.create_model(arch, pretrained=False, num_classes=0)
        if pretrained:
            load_pretrained(self.backbone, pretrained, what=f"image encoder {arch}", allow_partial=pretrained_partial,
                            partial_key="model.image.pretrained_partial")
        self.adapter = with_input_of(nn.Identity(), pretrained)
        self.dim = int(self.backbone.num_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> spatial tokens [B, h*w, C]."""
        features = self.backbone.forward_features(self.adapter(images))
        return features.flatten(2).transpose(1, 2)
