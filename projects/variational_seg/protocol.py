"""The evaluation protocol shared by eval, tune, figure and bench: where the markers come from, what
the ground truth is, and how a prediction is scored (spec sections 10-11)."""

from __future__ import annotations

from typing import Any

import numpy as np

from projects.variational_seg.markers import scribble_points, simulate_markers
from projects.variational_seg.seg_metrics import seg_scores
from shared.errors import ConfigError

SOURCES = ("simulated", "scribbles_set1", "scribbles_set2")


def ground_truth(sample: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """(foreground, ignore): mask 255 is the ignore band (GrabCut), any other value > 0 is the product."""
    mask = np.asarray(sample["mask"])
    ignore = mask == 255
    return (mask > 0) & ~ignore, (ignore if ignore.any() else None)


def marker_points(sample: dict[str, Any], source: str = "simulated", k: int = 3, mode: str = "farthest",
                  seed: int = 0, index: int = 0) -> np.ndarray:
    """(row, col) markers at image resolution: simulated from the ground truth or the real scribbles."""
    if source == "simulated":
        return simulate_markers(ground_truth(sample)[0], k, mode, seed, index)
    if source in ("scribbles_set1", "scribbles_set2"):
        if source not in sample:
            raise ConfigError(f"marker source {source!r} is not available for sample {sample.get('id')}")
        return scribble_points(sample[source], 1)
    raise ConfigError(f"markers.source must be one of {SOURCES}, got {source!r}")


def background_points(sample: dict[str, Any], source: str) -> np.ndarray | None:
    """(row, col) background markers: the background strokes (label 2) of the scribble set ``source``;
    None for simulated clicks (only the border prior, which the methods that take background add)."""
    if source not in ("scribbles_set1", "scribbles_set2"):
        return None
    if source not in sample:
        raise ConfigError(f"marker source {source!r} is not available for sample {sample.get('id')}")
    return scribble_points(sample[source], 2)


def score(prob: np.ndarray, sample: dict[str, Any]) -> dict[str, float]:
    gt, ignore = ground_truth(sample)
    return seg_scores(prob > 0.5, gt, ignore)


def format_points(points: np.ndarray) -> str:
    """Compact 'r,c;r,c' record of the markers (scribbles: only their count is kept)."""
    if len(points) > 20:
        return f"{len(points)} scribble px"
    return ";".join(f"{r},{c}" for r, c in points)
