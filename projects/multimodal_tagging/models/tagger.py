"""The multimodal tagger: image tokens + title tokens + industry one-hot -> multi-label logits.

    image --ImageEncoder--> [B, h*w, C] --proj--> [B, h*w, d] \
                                                               DualChannelCrossAttention -> img_vec, txt_vec
    title --(frozen MiniLM, cached)--> [B, L, 384] --proj-->  /
    industry one-hot [B, V] --proj--> ind_vec
    concat(img_vec, txt_vec, ind_vec) --head MLP--> embedding [B, d] --classifier--> logits [B, T]

Ablations by flags: ``fusion=concat`` (no attention), ``use_industry=false``, image only, text only.
Parameters are split into the groups that progressive training freezes/unfreezes (``PARAM_GROUPS``).
"""

from __future__ import annotations

import torch
from torch import nn

from projects.multimodal_tagging.models.encoders import ImageEncoder
from projects.multimodal_tagging.models.fusion import ConcatFusion, DualChannelCrossAttention, masked_mean
from shared.errors import ConfigError

PARAM_GROUPS = ("image_encoder", "projections", "attention", "head")


class MultimodalTagger(nn.Module):
    def __init__(self, num_tags: int, industry_dim: int, text_dim: int = 384, image_arch: str = "resnet18",
                 pretrained: str | None = None, dim: int = 256, heads: int = 4, dropout: float = 0.1,
                 fusion: str = "dual", use_image: bool = True, use_text: bool = True,
                 use_industry: bool = True, pretrained_partial: bool = False) -> None:
        super().__init__()
        if fusion not in ("dual", "concat"):
            raise ConfigError(f"model.fusion must be 'dual' or 'concat', got {fusion!r}")
        if fusion == "dual" and not (use_image and use_text):
            raise ConfigError("model.fusion=dual needs both image and text; use fusion=concat for one modality")
        if not (use_image or use_text or use_industry):
            raise ConfigError("the tagger needs at least one input (use_image, use_text, use_industry)")
        self.use_image, self.use_text, self.use_industry = use_image, use_text, use_industry
        self.image_encoder = ImageEncoder(image_arch, pretrained, pretrained_partial) if use_image else None
        self.projections = nn.ModuleDict()
        if use_image:
            self.projections["image"] = nn.Linear(self.image_encoder.dim, dim)
        if use_text:
            self.projections["text"] = nn.Linear(text_dim, dim)
        if use_industry:
            self.projections["industry"] = nn.Linear(industry_dim, dim)
        self.attention = DualChannelCrossAttention(dim, heads, dropout) if fusion == "dual" else ConcatFusion()
        width = dim * (int(use_image) + int(use_text) + int(use_industry))
        self.head = nn.ModuleDict({
            "fuse": nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim), nn.GELU(), nn.Dropout(dropout)),
            "classifier": nn.Linear(dim, num_tags),
        })

    def groups(self) -> dict[str, list[nn.Module]]:
        """Modules per progressive-training group (empty lists for parts an ablation lacks)."""
        return {"image_encoder": [self.image_encoder] if self.image_encoder is not None else [],
                "projections": [self.projections], "attention": [self.attention], "head": [self.head]}

    def embed(self, images: torch.Tensor | None, text_tokens: torch.Tensor | None, text_mask: torch.Tensor | None,
              industry: torch.Tensor | None) -> torch.Tensor:
        """The fused embedding [B, dim] (the space KNN label propagation works in)."""
        parts = []
        img = self.projections["image"](self.image_encoder(images)) if self.use_image else None
        txt = self.projections["text"](text_tokens.float()) if self.use_text else None
        if img is not None and txt is not None:
            parts += list(self.attention(img, txt, text_mask))
        elif img is not None:
            parts.append(img.mean(1))
        elif txt is not None:
            parts.append(masked_mean(txt, text_mask))
        if self.use_industry:
            parts.append(self.projections["industry"](industry))
        return self.head["fuse"](torch.cat(parts, dim=1))

    def forward(self, images: torch.Tensor | None, text_tokens: torch.Tensor | None,
                text_mask: torch.Tensor | None, industry: torch.Tensor | None) -> torch.Tensor:
        return self.head["classifier"](self.embed(images, text_tokens, text_mask, industry))


