"""Dual-channel cross-attention (image->text and text->image) and the concat baseline."""

from __future__ import annotations

import torch
from torch import nn


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over tokens [B, L, D] -> [B, D], counting only mask==True positions."""
    if mask is None:
        return x.mean(1)
    m = mask.to(x.dtype)[..., None]
    return (x * m).sum(1) / m.sum(1).clamp(min=1)


class CrossAttentionBlock(nn.Module):
    """Queries from one modality attend over the other's tokens; residual + LayerNorm + FFN."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))

    def forward(self, query: torch.Tensor, context: torch.Tensor,
                context_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``context_mask`` True = real token. Returns the updated queries and the attention weights."""
        pad = None if context_mask is None else ~context_mask
        attended, weights = self.attn(query, context, context, key_padding_mask=pad, need_weights=True)
        x = self.norm1(query + attended)
        return self.norm2(x + self.ffn(x)), weights


class DualChannelCrossAttention(nn.Module):
    """image->text: image regions query the title tokens (which words explain this region);
    text->image: title tokens query the image regions (which regions does this word point at).
    Returns one pooled vector per channel."""

    def __init__(self, dim: int, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.image_to_text = CrossAttentionBlock(dim, heads, dropout)
        self.text_to_image = CrossAttentionBlock(dim, heads, dropout)

    def forward(self, image_tokens: torch.Tensor, text_tokens: torch.Tensor,
                text_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        img, _ = self.image_to_text(image_tokens, text_tokens, text_mask)
        txt, _ = self.text_to_image(text_tokens, image_tokens)
        return img.mean(1), masked_mean(txt, text_mask)


class ConcatFusion(nn.Module):
    """Ablation: no interaction, each modality pooled on its own (parameter-free)."""

    def forward(self, image_tokens: torch.Tensor, text_tokens: torch.Tensor,
                text_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return image_tokens.mean(1), masked_mean(text_tokens, text_mask)
