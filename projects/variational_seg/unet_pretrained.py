"""U-Net baseline on an ImageNet-pretrained encoder (``model=unet_lite0``): what a user would train instead
of the small from-scratch U-Net of ``unet.py``.

The encoder is a timm ``features_only`` CNN (default ``tf_efficientnet_lite0`` with the packaged ImageNet
weights, strides 2-32) that sees only the RGB image, so its pretrained stem stays intact; the marker
information, the normalised geodesic distance D_G from the clicks (the 4th input channel, as for the
other models), is resized and concatenated to the decoder's input at every scale. Decoder: per scale,
upsample x2, concatenate skip + D_G, two 3x3 conv-BN-ReLU; one logit channel at the input size.
"""

from __future__ import annotations

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

from shared.augment import IMAGENET_MEAN, IMAGENET_STD
from shared.weights import Renormalize, load_pretrained, weights_input


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class PretrainedUNet(nn.Module):
    """Input (B, 4, H, W): RGB in [0, 1] and D_G; output (B, H, W) logits. H, W multiples of 32."""

    def __init__(self, arch: str = "tf_efficientnet_lite0", pretrained: str | None = None, decoder: int = 32) -> None:
        super().__init__()
        self.encoder = timm.create_model(arch, pretrained=False, features_only=True)
        if pretrained:
            load_pretrained(self.encoder, pretrained, what=f"U-Net encoder {arch}")
        wanted = weights_input(pretrained)
        mean, std = (wanted.mean, wanted.std) if wanted else (IMAGENET_MEAN, IMAGENET_STD)
        self.input_norm = Renormalize((0.0,) * 3, (1.0,) * 3, tuple(mean), tuple(std))  # [0, 1] -> the weights' input
        channels = list(self.encoder.feature_info.channels())           # strides 2, 4, 8, 16, 32
        widths = [decoder * 2 ** i for i in range(len(channels) - 1)]   # decoder width per skip scale
        self.decode = nn.ModuleList()
        below = channels[-1]
        for skip, width in reversed(list(zip(channels[:-1], widths))):
            self.decode.append(_block(below + skip + 1, width))
            below = width
        self.head = nn.Sequential(_block(below + 4, decoder), nn.Conv2d(decoder, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb, distance = x[:, :3], x[:, 3:4]
        features = self.encoder(self.input_norm(rgb))
        y = features[-1]
        for block, skip in zip(self.decode, reversed(features[:-1])):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            d = F.interpolate(distance, size=skip.shape[-2:], mode="area")
            y = block(torch.cat([y, skip, d], 1))
        y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(torch.cat([y, x], 1))[:, 0]
