"""A timm backbone (global-pooled features) with three heads: accept/reject (1 logit), defects
(multi-label logits, one per defect) and a quality score (1 logit; sigmoid -> [0, 1], trained
against the SSIM target). Weights from scratch, or a local file / ``packaged:`` ImageNet weights through
``shared.weights``."""

from __future__ import annotations

import timm
import torch
from torch import nn

from shared.weights import load_pretrained, with_input_of


class TimmIQA(nn.Module):
    def __init__(self, arch: str, num_defects: int, pretrained: str | None = None, dropout: float = 0.2,
                 pretrained_partial: bool = False) -> None:
        super().__init__()
        backbone = timm.create_model(arch, pretrained=False, num_classes=0)
        if pretrained:
            load_pretrained(backbone, pretrained, what=arch, allow_partial=pretrained_partial)
        # Some timm models (MobileNetV3) keep a conv head after pooling: its width, not num_features.
        features = getattr(backbone, "head_hidden_size", None) or backbone.num_features
        self.backbone = with_input_of(backbone, pretrained)  # the normalisation the weights expect
        self.dropout = nn.Dropout(dropout)
        self.reject = nn.Linear(features, 1)
        self.defects = nn.Linear(features, num_defects)
        self.score = nn.Linear(features, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.dropout(self.backbone(x))
        return {"reject": self.reject(f).squeeze(1), "defects": self.defects(f), "score": self.score(f).squeeze(1)}
