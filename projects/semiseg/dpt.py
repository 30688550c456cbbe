"""The DPT decoder of UniMatch V2 (projections, resampling, residual fusion, no BatchNorm).

For a ViT all four maps share the patch grid and are resampled x4 / x2 / x1 / /2; for a CNN
pyramid (strides 4/8/16/32) they already have those relative sizes, so resampling is the identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ResidualConvUnit(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    """(coarser + RCU(skip)) -> RCU -> bilinear resize (align_corners) -> 1x1 conv.

    The deepest block has no skip input, so it gets no skip unit (the reference DPT builds one and
    never uses it, which DDP reports as unused parameters).
    """

    def __init__(self, features: int, with_skip: bool = True) -> None:
        super().__init__()
        self.skip_unit = ResidualConvUnit(features) if with_skip else None
        self.unit = ResidualConvUnit(features)
        self.out_conv = nn.Conv2d(features, features, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None,
                size: Sequence[int] | None = None) -> torch.Tensor:
        if skip is not None:
            if self.skip_unit is None:
                raise ValueError("this fusion block was built without a skip input")
            x = x + self.skip_unit(skip)
        x = self.unit(x)
        if size is None:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        else:
            x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)
        return self.out_conv(x)


def _resamplers(channels: Sequence[int], pyramid: bool) -> nn.ModuleList:
    if pyramid:
        return nn.ModuleList([nn.Identity() for _ in channels])
    c1, c2, _, c4 = channels
    return nn.ModuleList([
        nn.ConvTranspose2d(c1, c1, kernel_size=4, stride=4),
        nn.ConvTranspose2d(c2, c2, kernel_size=2, stride=2),
        nn.Identity(),
        nn.Conv2d(c4, c4, kernel_size=3, stride=2, padding=1),
    ])


class DPTHead(nn.Module):
    def __init__(self, in_channels: Sequence[int], num_classes: int, features: int = 64,
                 out_channels: Sequence[int] = (48, 96, 192, 384), pyramid: bool = False) -> None:
        super().__init__()
        if len(in_channels) != 4 or len(out_channels) != 4:
            raise ValueError("DPTHead needs exactly four feature levels")
        self.projects = nn.ModuleList([nn.Conv2d(c, o, 1) for c, o in zip(in_channels, out_channels)])
        self.resize = _resamplers(out_channels, pyramid)
        self.layer_rn = nn.ModuleList([nn.Conv2d(o, features, 3, padding=1, bias=False) for o in out_channels])
        self.fusion = nn.ModuleList([FusionBlock(features, with_skip=i < 3) for i in range(4)])
        self.output = nn.Sequential(nn.Conv2d(features, features, 3, padding=1), nn.ReLU(True),
                                    nn.Conv2d(features, num_classes, 1))

    def forward(self, features: list[torch.Tensor], size: Sequence[int]) -> torch.Tensor:
        l1, l2, l3, l4 = [rn(rs(pj(f))) for f, pj, rs, rn in zip(features, self.projects, self.resize, self.layer_rn)]
        path = self.fusion[3](l4, size=l3.shape[2:])
        path = self.fusion[2](path, l3, size=l2.shape[2:])
        path = self.fusion[1](path, l2, size=l1.shape[2:])
        path = self.fusion[0](path, l1)
        out = self.output(path)
        return F.interpolate(out, size=tuple(size), mode="bilinear", align_corners=True)
