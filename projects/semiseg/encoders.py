"""Encoders returning four feature maps: a DINOv2 ViT (timm) or any timm ``features_only`` CNN.

ViT: ``forward_intermediates`` on blocks ``layers`` (default [2, 5, 8, 11]), final norm applied to
each, class token dropped, as (B, C, H/14, W/14) maps. CNN: the last four pyramid levels.
Pretrained weights come only from local files through :mod:`shared.weights` (a Meta DINOv2 ``.pth``
such as ``dinov2_vits14_pretrain.pth``, a timm ``.safetensors``, or ``hf-hub:timm/<name>`` in the
local Hugging Face cache); nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence

import timm
import torch
from torch import nn

from projects.semiseg.pos_embed import MODES, use_official_resampling
from shared.checkpoints import rebuilding_from_checkpoint
from shared.weights import load_pretrained, load_state_dict, load_state_into, resolve_weights, with_input_of


class ViTEncoder(nn.Module):
    kind = "vit"

    def __init__(self, arch: str = "vit_small_patch14_dinov2", layers: Sequence[int] = (2, 5, 8, 11),
                 img_size: int = 518, pos_embed_resample: str = "official", **vit_kwargs) -> None:
        super().__init__()
        if pos_embed_resample not in MODES:
            raise ValueError(f"model.encoder_kwargs.pos_embed_resample must be one of {MODES}, "
                             f"got {pos_embed_resample!r}")
        self.vit = timm.create_model(arch, pretrained=False, num_classes=0, img_size=img_size,
                                     dynamic_img_size=True, **vit_kwargs)
        if pos_embed_resample == "official":
            use_official_resampling(self.vit)
        self.layers = list(layers)
        depth = len(self.vit.blocks)
        if any(not 0 <= i < depth for i in self.layers):
            raise ValueError(f"model.layers {self.layers} out of range for {arch} with {depth} blocks")
        self.channels = [self.vit.embed_dim] * len(self.layers)
        self.patch_size = self.vit.patch_embed.patch_size[0]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.vit.forward_intermediates(x, indices=self.layers, norm=True, output_fmt="NCHW",
                                              intermediates_only=True)

    def load_pretrained(self, source: str, allow_partial: bool = False) -> None:
        """Meta DINOv2 .pth or timm weights; timm's filter drops ``mask_token`` and resamples pos-embed."""
        from timm.models.vision_transformer import checkpoint_filter_fn

        if rebuilding_from_checkpoint():  # the checkpoint holds every tensor; the file may be gone
            return
        what = f"the DINOv2 encoder ({type(self.vit).__name__})"
        state = checkpoint_filter_fn(load_state_dict(resolve_weights(source, what=what)), self.vit)
        load_state_into(self.vit, state, source, what, allow_partial=allow_partial)


class CNNEncoder(nn.Module):
    kind = "cnn"

    def __init__(self, arch: str = "resnet18", out_indices: Sequence[int] = (1, 2, 3, 4)) -> None:
        super().__init__()
        self.net = timm.create_model(arch, pretrained=False, features_only=True, out_indices=tuple(out_indices))
        self.channels = list(self.net.feature_info.channels())
        self.patch_size = 1
        self.adapter: nn.Module = nn.Identity()  # the input normalisation of the loaded weights, if they differ

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.net(self.adapter(x)))

    def load_pretrained(self, source: str, allow_partial: bool = False) -> None:
        load_pretrained(self.net, source, what=f"the {type(self.net).__name__} encoder", allow_partial=allow_partial)
        self.adapter = with_input_of(nn.Identity(), source)


def build_encoder(arch: str, pretrained: str | None = None, pretrained_partial: bool = False, **kwargs) -> nn.Module:
    encoder: nn.Module = ViTEncoder(arch, **kwargs) if arch.startswith("vit") else CNNEncoder(arch, **kwargs)
    if pretrained:
        encoder.load_pretrained(pretrained, pretrained_partial)  # type: ignore[operator]
    return encoder
