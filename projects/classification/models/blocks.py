"""Building blocks of MSFF-EComNet: conv-BN-ReLU, the MSP-Conv block and the IASM attention."""

from __future__ import annotations

import torch
from torch import nn


class ConvBNAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class MSPConv(nn.Module):
    """Multi-scale parallel convolution (paper eq. 1): 1x1, 3x3 and 3x3-3x3 (a factorised 5x5) branches
    over the same input, concatenated on channels. Output channels split 1/4 : 1/2 : 1/4."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        c1, c5 = cout // 4, cout // 4
        c3 = cout - c1 - c5
        self.branch1x1 = ConvBNAct(cin, c1, 1)
        self.branch3x3 = ConvBNAct(cin, c3, 3)
        self.branch5x5 = nn.Sequential(ConvBNAct(cin, c5, 3), ConvBNAct(c5, c5, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1x1(x), self.branch3x3(x), self.branch5x5(x)], dim=1)


class PlainConv(ConvBNAct):
    """The ablation's single-scale block: one 3x3 conv in place of MSP-Conv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 3)


class ChannelAttention(nn.Module):
    """Mc: a shared MLP over average- and max-pooled descriptors -> per-channel weights in (0, 1)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean(dim=(2, 3), keepdim=True))
        mx = self.mlp(x.amax(dim=(2, 3), keepdim=True))
        return torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    """Ms: a 7x7 conv over channel-wise mean and max maps -> one weight per position in (0, 1)."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class IASM(nn.Module):
    """Improved attention synergy (paper eq. 2): ``F + Ms(Mc(F)) * F``.

    Mc gives channel weights w_c; the spatial map m_s is computed on the channel-refined features
    w_c * F. The joint attention is w_c * m_s, applied to F and added back to F (the residual join that
    distinguishes IASM from serial CBAM, which outputs only the attended features).
    Not ``timm.layers.CbamModule``: besides the residual join, timm's spatial 7x7 conv carries a BatchNorm where
    the paper's has a bias (its channel MLP equals timm's ``ChannelAttn``, kept here to keep checkpoint names).
    """

    def __init__(self, channels: int, reduction: int = 16, kernel: int = 7) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(kernel)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        w_c = self.channel(x)
        return w_c * self.spatial(w_c * x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.attention(x) * x
