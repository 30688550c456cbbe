"""DINOv2's position-embedding resampling, as the official code does it, for timm's ViT.

timm resamples with ``F.interpolate(size=..., mode="bicubic", antialias=True)``; the official
DINOv2 (and UniMatch V2, which uses its code) interpolates by ``scale_factor = (n + 0.1) / M`` with
no antialiasing (the 0.1 offset avoids a floating-point error in the output size, dino issue #8).
With real DINOv2 weights the two differ by 5 % (224 px) to 23 % (98 px) of the embedding's norm, so
the features a pretrained encoder was trained with depend on matching it: ``official`` is the default,
``timm`` keeps timm's behaviour.
"""

from __future__ import annotations

import math
import types

import torch
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed
from torch import nn

MODES = ("official", "timm")


def resample_official(pos_embed: torch.Tensor, grid: tuple[int, int], num_prefix_tokens: int = 1) -> torch.Tensor:
    """(1, prefix + M*M, C) -> (1, prefix + gh*gw, C) by bicubic scale factors (g + 0.1) / M, no antialias."""
    prefix, patches = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    side = int(math.sqrt(patches.shape[1]))
    if (side, side) == tuple(grid):
        return pos_embed
    dim = patches.shape[-1]
    square = patches.float().reshape(1, side, side, dim).permute(0, 3, 1, 2)
    scale = ((grid[0] + 0.1) / side, (grid[1] + 0.1) / side)
    out = F.interpolate(square, scale_factor=scale, mode="bicubic", antialias=False)
    if tuple(out.shape[-2:]) != tuple(grid):
        raise RuntimeError(f"position-embedding resampling gave {tuple(out.shape[-2:])}, not {tuple(grid)}")
    out = out.permute(0, 2, 3, 1).reshape(1, -1, dim).to(pos_embed.dtype)
    return torch.cat([prefix, out], dim=1)


def resample_timm(pos_embed: torch.Tensor, grid: tuple[int, int], num_prefix_tokens: int = 1) -> torch.Tensor:
    return resample_abs_pos_embed(pos_embed, new_size=list(grid), num_prefix_tokens=num_prefix_tokens)


def use_official_resampling(vit: nn.Module) -> None:
    """Replace a timm ViT's ``_pos_embed`` (dynamic image size, class token, no register tokens) by one
    that resamples as the official DINOv2 code; everything else in timm's forward is unchanged."""
    if getattr(vit, "reg_token", None) is not None or getattr(vit, "no_embed_class", False):
        raise ValueError("official DINOv2 resampling is implemented for ViTs with a class token only")

    def _pos_embed(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
        batch, h, w, dim = x.shape
        tokens = torch.cat([self.cls_token.expand(batch, -1, -1), x.reshape(batch, -1, dim)], dim=1)
        return self.pos_drop(tokens + resample_official(self.pos_embed, (h, w), self.num_prefix_tokens))

    vit._pos_embed = types.MethodType(_pos_embed, vit)
