"""The loss terms of UniMatch V2 and MvpMatch.

``hierarchical_masked_ce`` weights every pixel's cross-entropy by its pseudo-label confidence level:

* ``nested`` (default): weight = sum of ``weights[i]`` over the thresholds the confidence reaches,
  so with (0.85, 0.90, 0.95) and (0.1, 0.2, 0.7) a pixel at >= 0.95 weighs 1.0, [0.90, 0.95) 0.3,
  [0.85, 0.90) 0.1. With all thresholds equal it is exactly UniMatch V2's single-threshold mask.
* ``banded``: the paper's Eq. (2) read literally, one weight per exclusive band:
  [0.95, 1] -> 0.7, [0.90, 0.95) -> 0.2, [0.85, 0.90) -> 0.1.

The sum is divided by the number of non-padded pixels (UniMatch V2's normalisation): unconfident
pixels count as zero but stay in the denominator.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from projects.semiseg.pseudo_labels import IGNORE, PseudoLabels

WEIGHTINGS = ("nested", "banded")


def check_levels(thresholds: Sequence[float], weights: Sequence[float], weighting: str = "nested") -> None:
    """Clear errors for thresholds out of order / out of [0, 1] and mismatched weights."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"method.weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    if len(thresholds) != len(weights) or not thresholds:
        raise ValueError(f"method.thresholds {list(thresholds)} and method.weights {list(weights)} "
                         f"must be non-empty and of the same length")
    if any(not 0.0 <= t <= 1.0 for t in thresholds):
        raise ValueError(f"method.thresholds must lie in [0, 1], got {list(thresholds)}")
    if any(a > b for a, b in zip(thresholds, thresholds[1:])):
        raise ValueError(f"method.thresholds must be in increasing order (low, mid, high), got {list(thresholds)}")
    if any(w < 0 for w in weights):
        raise ValueError(f"method.weights must be >= 0, got {list(weights)}")


def pixel_weights(conf: torch.Tensor, thresholds: Sequence[float], weights: Sequence[float],
                  weighting: str = "nested") -> torch.Tensor:
    """Per-pixel loss weight from the confidence map (see the module docstring)."""
    w = torch.zeros_like(conf, dtype=torch.float32)
    if weighting == "nested":
        for t, a in zip(thresholds, weights):
            w = w + a * (conf >= t).float()
        return w
    uppers = [*thresholds[1:], float("inf")]
    for lo, hi, a in zip(thresholds, uppers, weights):
        w = w + a * ((conf >= lo) & (conf < hi)).float()
    return w


def hierarchical_masked_ce(logits: torch.Tensor, target: PseudoLabels, thresholds: Sequence[float],
                           weights: Sequence[float], weighting: str = "nested") -> torch.Tensor:
    """sum_pixels CE * w(conf) * [not padding] / #non-padded pixels."""
    ce = F.cross_entropy(logits.float(), target.label, reduction="none")
    valid = (target.ignore != IGNORE).float()
    w = pixel_weights(target.conf, thresholds, weights, weighting)
    return (ce * w * valid).sum() / valid.sum().clamp_min(1.0)


def masked_ce(logits: torch.Tensor, target: PseudoLabels, threshold: float) -> torch.Tensor:
    """UniMatch V2's unsupervised loss: CE on pixels with conf >= threshold, over non-padded pixels."""
    return hierarchical_masked_ce(logits, target, (threshold,), (1.0,), "nested")


def supervised_ce(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Plain CE on the labelled batch, ignoring 255 (padding and the dataset's own ignore pixels)."""
    return F.cross_entropy(logits.float(), mask, ignore_index=IGNORE)
