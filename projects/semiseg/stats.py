"""Pseudo-label statistics logged every step: mask ratio per threshold level, history agreement."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from projects.semiseg.pseudo_labels import IGNORE, PseudoLabels


def pseudo_label_stats(teacher: PseudoLabels, history: PseudoLabels | None,
                       thresholds: Sequence[float]) -> dict[str, torch.Tensor]:
    """``mask_ratio@t``: share of non-padded weak-view pixels with teacher conf >= t;
    ``hist_agree``: share where the historical ensemble's label equals the teacher's."""
    valid = teacher.ignore != IGNORE
    n = valid.sum().clamp_min(1).float()
    out = {f"mask_ratio@{t:g}": ((teacher.conf >= t) & valid).sum() / n for t in sorted(set(thresholds))}
    if history is not None:
        out["hist_agree"] = ((history.label == teacher.label) & valid).sum() / n
        out["hist_mask_ratio@max"] = ((history.conf >= max(thresholds)) & valid).sum() / n
    return out
