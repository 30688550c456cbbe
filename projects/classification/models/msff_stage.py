"""MSP-Conv and IASM where a user would put them: one stage after an ImageNet-pretrained backbone.

The paper trains MSFF-EComNet from scratch; no weights exist for it. This model asks whether its two
blocks still help on top of a pretrained CNN: a timm ``features_only`` backbone (its last, stride-32
features), then one stage (MSP-Conv or a plain 3x3 conv-BN-ReLU, optionally followed by IASM) in place
of the backbone's own 1x1 head conv, then pooling, dropout and a linear classifier. ``use_msp`` /
``use_iasm`` give the four rows of the paper's Table 2 ablation. The backbone's weights are loaded by
the factory (``models/factory.py``), the one place that handles ``pretrained``. Each variant is a timm
entry point (``msff_stage``, ``msff_stage_plain``, ``msff_stage_msp``, ``msff_stage_iasm``).
"""

from __future__ import annotations

import timm
import torch
from timm.models import register_model
from torch import nn

from projects.classification.models.blocks import IASM, MSPConv, PlainConv
from projects.classification.models.timm_entry import model_kwargs


class PretrainedMSFF(nn.Module):
    def __init__(self, num_classes: int, backbone: str = "tf_efficientnet_lite0", width: int = 640,
                 use_msp: bool = True, use_iasm: bool = True, dropout: float = 0.2) -> None:
        super().__init__()
        self.backbone = timm.create_model(backbone, pretrained=False, features_only=True, out_indices=(-1,))
        cin = self.backbone.feature_info.channels()[-1]
        block = MSPConv if use_msp else PlainConv
        self.stage = nn.Sequential(block(cin, width), *([IASM(width)] if use_iasm else []))
        self.num_features = width
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(width, num_classes))

    def get_classifier(self) -> nn.Module:
        return self.head

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage(self.backbone(x)[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


@register_model
def msff_stage(pretrained: bool = False, **kwargs) -> PretrainedMSFF:
    """MSP-Conv + IASM after the backbone."""
    return PretrainedMSFF(use_msp=True, use_iasm=True, **model_kwargs("msff_stage", pretrained, kwargs))


@register_model
def msff_stage_plain(pretrained: bool = False, **kwargs) -> PretrainedMSFF:
    """A plain 3x3 conv-BN-ReLU after the backbone, no attention."""
    return PretrainedMSFF(use_msp=False, use_iasm=False, **model_kwargs("msff_stage_plain", pretrained, kwargs))


@register_model
def msff_stage_msp(pretrained: bool = False, **kwargs) -> PretrainedMSFF:
    """MSP-Conv only after the backbone."""
    return PretrainedMSFF(use_msp=True, use_iasm=False, **model_kwargs("msff_stage_msp", pretrained, kwargs))


@register_model
def msff_stage_iasm(pretrained: bool = False, **kwargs) -> PretrainedMSFF:
    """A plain 3x3 conv + IASM after the backbone."""
    return PretrainedMSFF(use_msp=False, use_iasm=True, **model_kwargs("msff_stage_iasm", pretrained, kwargs))
