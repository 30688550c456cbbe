"""Pseudo-labels: from the EMA teacher and from the historical-checkpoint ensemble, plus CutMix.

A :class:`PseudoLabels` bundles every per-pixel tensor that must move together: the hard label, its
confidence and the ignore map (255 = padding, else 0). ``cutmix`` applies one box to any such
tensor with the flipped batch as partner (UniMatch V2: image i receives pixels of image B-1-i).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from shared.callbacks.historical_queue import HistoricalCheckpointQueue

IGNORE = 255


@dataclass
class PseudoLabels:
    label: torch.Tensor    # (B, H, W) long
    conf: torch.Tensor     # (B, H, W) float, max softmax probability
    ignore: torch.Tensor   # (B, H, W) long, 255 where the crop is padding


def labels_from_logits(logits: torch.Tensor, ignore: torch.Tensor) -> PseudoLabels:
    """Softmax in fp32 (thresholds near 0.95 are sensitive to bf16 rounding), then max / argmax."""
    conf, label = logits.detach().float().softmax(dim=1).max(dim=1)
    return PseudoLabels(label=label, conf=conf, ignore=ignore)


@torch.no_grad()
def teacher_pseudo_labels(teacher: nn.Module, weak: torch.Tensor, ignore: torch.Tensor) -> PseudoLabels:
    """The EMA teacher on the full weak batch, eval mode, no feature dropout, no gradient."""
    teacher.eval()
    return labels_from_logits(teacher(weak), ignore)


@torch.no_grad()
def historical_pseudo_labels(history: HistoricalCheckpointQueue | None, weak: torch.Tensor,
                             ignore: torch.Tensor) -> PseudoLabels | None:
    """Randomly weighted ensemble of K drawn historical best models (None while the queue is empty)."""
    if history is None or len(history) == 0:
        return None
    return labels_from_logits(history.ensemble(weak), ignore)


def cutmix(x: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """Inside ``box`` (B, H, W, bool) take the pixels of the flipped batch; x is (B, H, W) or (B, C, H, W)."""
    b = box.bool()
    if x.dim() == 4:
        b = b[:, None]
    return torch.where(b, x.flip(0), x)


def cutmix_labels(labels: PseudoLabels, box: torch.Tensor) -> PseudoLabels:
    """Mix label, confidence and ignore map with the same box and partner as the image."""
    return PseudoLabels(cutmix(labels.label, box), cutmix(labels.conf, box), cutmix(labels.ignore, box))
