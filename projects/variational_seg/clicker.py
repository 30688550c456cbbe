"""The interactive-segmentation field's click simulator (RITM / f-BRS ``clicker.py``, rewritten): clicks
come one at a time, each at the deepest point of the larger error region of the current mask.

* the error regions are the missed object (false negatives) and the false foreground (false
  positives), both outside the ignore band (GrabCut's 128 "unknown" pixels);
* "deepest": the largest Euclidean distance to the region's boundary, the image border counting as
  boundary (the mask is padded by one background pixel before the distance transform);
* "larger" is RITM's rule: the region whose deepest point is deeper wins (a positive click on a tie
  goes to the false-negative side only when strictly deeper, as in RITM);
* a pixel already clicked is never clicked again (its distance is set to 0);
* the first click, on an empty mask, is therefore a positive click at the object's deepest point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Click:
    row: int
    col: int
    positive: bool


def depth(region: np.ndarray) -> np.ndarray:
    """Distance of every pixel of ``region`` to its boundary, the image border counting as boundary."""
    padded = np.pad(region.astype(bool), 1, constant_values=False)
    return ndimage.distance_transform_edt(padded)[1:-1, 1:-1]


def error_regions(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(false negatives, false positives) of a boolean prediction, both outside ``ignore``."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    keep = np.ones_like(gt) if ignore is None else ~ignore.astype(bool)
    return gt & ~pred & keep, pred & ~gt & keep


def next_click(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None = None,
               clicked: np.ndarray | None = None) -> Click | None:
    """The next simulated click for ``pred`` against ``gt``; None when there is no error left to click.
    ``clicked``: boolean map of the pixels already clicked (never chosen again)."""
    fn, fp = error_regions(pred, gt, ignore)
    fn_depth, fp_depth = depth(fn), depth(fp)
    if clicked is not None:
        fn_depth[clicked] = 0.0
        fp_depth[clicked] = 0.0
    fn_max, fp_max = float(fn_depth.max()), float(fp_depth.max())
    if max(fn_max, fp_max) <= 0.0:
        return None
    positive = fn_max > fp_max
    chosen = fn_depth if positive else fp_depth
    row, col = np.unravel_index(int(np.argmax(chosen)), chosen.shape)
    return Click(int(row), int(col), positive)


def iou(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """Intersection over union of two boolean masks, pixels of ``ignore`` left out of both (RITM's
    ``get_iou`` with its ignore label); both empty: 1."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    if ignore is not None:
        keep = ~ignore.astype(bool)
        pred, gt = pred & keep, gt & keep
    union = int((pred | gt).sum())
    return 1.0 if union == 0 else int((pred & gt).sum()) / union
