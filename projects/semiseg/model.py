"""Encoder + DPT head; ``forward(x, comp_drop=True)`` applies complementary dropout between them."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from projects.semiseg.dpt import DPTHead
from projects.semiseg.encoders import build_encoder
from projects.semiseg.perturb import apply_complementary_dropout


class SegModel(nn.Module):
    def __init__(self, encoder: nn.Module, head: DPTHead) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, x: torch.Tensor, comp_drop: bool = False,
                generator: torch.Generator | None = None) -> torch.Tensor:
        features = self.encoder(patch_aligned(x, self.encoder.patch_size))
        if comp_drop:
            features = apply_complementary_dropout(features, generator)
        return self.head(features, size=x.shape[2:])


def patch_aligned(x: torch.Tensor, patch: int) -> torch.Tensor:
    """``x`` resized to the nearest multiple of the ViT patch size per side (at least one patch), as
    DINOv2's and UniMatch V2's evaluation do, so any image size works (CCP's 160 px, the paper's
    384 px inference); the head upsamples its logits back to the input size. CNNs (patch 1) pass as is."""
    if patch <= 1:
        return x
    size = tuple(max(patch, round(s / patch) * patch) for s in x.shape[-2:])
    return x if size == tuple(x.shape[-2:]) else F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def build_model(cfg: dict[str, Any], num_classes: int) -> SegModel:
    """From a ``model`` config: arch, pretrained, encoder kwargs, DPT features / out_channels."""
    enc_kwargs = dict(cfg.get("encoder_kwargs") or {})
    encoder = build_encoder(cfg["arch"], cfg.get("pretrained"), bool(cfg.get("pretrained_partial", False)),
                            **enc_kwargs)
    head = DPTHead(encoder.channels, num_classes, features=int(cfg.get("features", 64)),
                   out_channels=list(cfg.get("out_channels", (48, 96, 192, 384))),
                   pyramid=encoder.kind == "cnn")
    return SegModel(encoder, head)


def backbone_and_head_params(model: SegModel) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """UniMatch V2's two AdamW groups: encoder (lr) and everything else (lr x lr_multi)."""
    backbone = [p for p in model.encoder.parameters() if p.requires_grad]
    head = [p for p in model.head.parameters() if p.requires_grad]
    return backbone, head
