"""Complementary channel dropout (UniMatch V2's feature perturbation of the two strong views)."""

from __future__ import annotations

import torch


def complementary_dropout(batch: int, channels: int, generator: torch.Generator | None = None,
                          device: torch.device | str = "cpu") -> torch.Tensor:
    """(2*batch, channels) multipliers: rows 0..B-1 for strong view 1, rows B..2B-1 for view 2.

    m1 ~ 2 * Bernoulli(0.5) per (image, channel), m2 = 2 - m1 (each channel is kept, doubled, in
    exactly one view); for a random half of the images (B // 2 of them) both are set to 1 (no dropout).
    """
    keep = torch.rand(batch, channels, generator=generator) < 0.5
    m1 = keep.float() * 2.0
    m2 = 2.0 - m1
    untouched = torch.randperm(batch, generator=generator)[: batch // 2]
    m1[untouched] = 1.0
    m2[untouched] = 1.0
    return torch.cat([m1, m2]).to(device)


def apply_complementary_dropout(features: list[torch.Tensor], generator: torch.Generator | None = None
                                ) -> list[torch.Tensor]:
    """Multiply each (2B, C, h, w) feature map by the masks; one mask shared by all levels when they
    have the same width (ViT, as in UniMatch V2), else one mask per level (CNN pyramids)."""
    batch = features[0].shape[0] // 2
    widths = {f.shape[1] for f in features}
    if len(widths) == 1:
        mask = complementary_dropout(batch, features[0].shape[1], generator, features[0].device)
        masks = [mask] * len(features)
    else:
        masks = [complementary_dropout(batch, f.shape[1], generator, f.device) for f in features]
    return [f * m.to(f.dtype)[:, :, None, None] for f, m in zip(features, masks)]
