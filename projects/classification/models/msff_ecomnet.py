"""MSFF-EComNet (Zhang 2026): a light conv stem, stages of MSP-Conv blocks each followed by IASM,
global average pooling and a linear classifier.

Widths/depths were chosen (not given in the paper) so that the 15-class model has 11.8 M parameters,
the paper's 11.79 M. ``use_msp`` / ``use_iasm`` give the ablation variants of the paper's Table 2, each a
timm entry point (``timm.create_model("msff_ecomnet", num_classes=15)`` once this package is imported).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.models import register_model
from torch import nn

from projects.classification.models.blocks import IASM, ConvBNAct, MSPConv, PlainConv
from projects.classification.models.timm_entry import model_kwargs


class MSFFEComNet(nn.Module):
    def __init__(self, num_classes: int, widths: Sequence[int] = (112, 224, 448, 880),
                 depths: Sequence[int] = (1, 1, 2, 2), stem_width: int = 64, use_msp: bool = True,
                 use_iasm: bool = True, dropout: float = 0.2, in_chans: int = 3) -> None:
        super().__init__()
        block = MSPConv if use_msp else PlainConv
        half = stem_width // 2
        self.stem = nn.Sequential(ConvBNAct(in_chans, half, 3, 2), ConvBNAct(half, stem_width, 3, 2))
        stages: list[nn.Module] = []
        cin = stem_width
        for i, (width, depth) in enumerate(zip(widths, depths)):
            layers: list[nn.Module] = [nn.MaxPool2d(2)] if i > 0 else []
            for d in range(depth):
                layers.append(block(cin if d == 0 else width, width))
            if use_iasm:
                layers.append(IASM(width))
            stages.append(nn.Sequential(*layers))
            cin = width
        self.stages = nn.Sequential(*stages)
        self.num_features = cin
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(cin, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


@register_model
def msff_ecomnet(pretrained: bool = False, **kwargs) -> MSFFEComNet:
    """The paper's model: MSP-Conv blocks, each stage followed by IASM."""
    return MSFFEComNet(use_msp=True, use_iasm=True, **model_kwargs("msff_ecomnet", pretrained, kwargs))


@register_model
def msff_base(pretrained: bool = False, **kwargs) -> MSFFEComNet:
    """Table 2 "base": plain 3x3 blocks, no attention."""
    return MSFFEComNet(use_msp=False, use_iasm=False, **model_kwargs("msff_base", pretrained, kwargs))


@register_model
def msff_msp(pretrained: bool = False, **kwargs) -> MSFFEComNet:
    """Table 2: MSP-Conv blocks only."""
    return MSFFEComNet(use_msp=True, use_iasm=False, **model_kwargs("msff_msp", pretrained, kwargs))


@register_model
def msff_iasm(pretrained: bool = False, **kwargs) -> MSFFEComNet:
    """Table 2: plain 3x3 blocks, each stage followed by IASM."""
    return MSFFEComNet(use_msp=False, use_iasm=True, **model_kwargs("msff_iasm", pretrained, kwargs))
