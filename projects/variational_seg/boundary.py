"""A boundary F-score at full resolution (the DAVIS benchmark's F measure, Perazzi et al. 2016): how much of
the predicted outline lies within ``tol`` px of the true outline (precision) and how much of the true
outline is within ``tol`` px of the predicted one (recall), combined as 2PR / (P + R).

* ``tol`` = ceil(0.008 x the image diagonal), DAVIS's ``bound_th`` (4 px on a 481 x 321 GrabCut photo);
* an outline pixel: a mask pixel with a 4-neighbour outside the mask (the image border is not an outline);
* GrabCut's ignore band straddles the true outline: it is split down its middle (each band pixel goes to
  the nearer of object and background) to give the true mask whose outline is scored.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage


def fill_ignore(gt: np.ndarray, ignore: np.ndarray | None) -> np.ndarray:
    """The object mask with each ignored pixel given to the nearer of object and background."""
    gt = gt.astype(bool)
    if ignore is None or not ignore.any():
        return gt
    ignore = ignore.astype(bool)
    to_object = ndimage.distance_transform_edt(~gt)
    to_background = ndimage.distance_transform_edt(gt | ignore)
    return gt | (ignore & (to_object < to_background))


def outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it (the image border does not count)."""
    mask = mask.astype(bool)
    inner = ndimage.binary_erosion(mask, border_value=1)
    return mask & ~inner


def boundary_f(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None = None,
               tol: float | None = None) -> float:
    """The boundary F-score of ``pred`` against ``gt`` (module docstring); both outlines empty: 1."""
    if tol is None:
        tol = math.ceil(0.008 * math.hypot(*gt.shape))
    pred_edge, gt_edge = outline(pred), outline(fill_ignore(gt, ignore))
    if not pred_edge.any() and not gt_edge.any():
        return 1.0
    if not pred_edge.any() or not gt_edge.any():
        return 0.0
    precision = float((ndimage.distance_transform_edt(~gt_edge)[pred_edge] <= tol).mean())
    recall = float((ndimage.distance_transform_edt(~pred_edge)[gt_edge] <= tol).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
