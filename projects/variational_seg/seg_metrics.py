"""Binary segmentation scores on numpy masks: Dice, Hausdorff and HD95 (in pixels).

Conventions (stated because several are in circulation):

* boundary of A = A and not erode(A) with a 3x3 cross, ``border_value=0`` (mask pixels on the image
  edge count as boundary, as in medpy and MONAI);
* HD95 = max of the two *directed* 95th percentiles (numpy linear interpolation), which is MONAI's
  ``compute_hausdorff_distance(percentile=95)``; medpy's ``hd95`` pools both directions instead;
* both masks empty: DSC 1, HD = HD95 = 0; exactly one empty: DSC 0 and HD = HD95 = the image
  diagonal (flagged as ``empty_case`` so reports can count them);
* ``ignore``: pixels where the prediction is replaced by the ground truth before scoring (e.g. the
  GrabCut "unknown" band), so they count neither as errors nor as boundary disagreements.

torchmetrics 1.9 ``HausdorffDistance`` has no percentile option, hence the hand-written version.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

CROSS = ndimage.generate_binary_structure(2, 1)


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    pred, gt = pred.astype(bool), gt.astype(bool)
    total = int(pred.sum()) + int(gt.sum())
    return 1.0 if total == 0 else 2.0 * int((pred & gt).sum()) / total


def boundary(mask: np.ndarray) -> np.ndarray:
    mask = mask.astype(bool)
    return mask & ~ndimage.binary_erosion(mask, structure=CROSS, border_value=0)


def directed_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances (px) from every boundary pixel of ``a`` to the boundary of ``b`` (both non-empty)."""
    dist_to_b = ndimage.distance_transform_edt(~boundary(b))
    return dist_to_b[boundary(a)]


def hausdorff_pair(pred: np.ndarray, gt: np.ndarray, percentile: float = 95.0) -> tuple[float, float]:
    """(HD, HD-percentile) with the conventions of the module docstring."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    if not pred.any() and not gt.any():
        return 0.0, 0.0
    if not pred.any() or not gt.any():
        diag = float(np.hypot(*pred.shape))
        return diag, diag
    d_pg, d_gp = directed_distances(pred, gt), directed_distances(gt, pred)
    hd = float(max(d_pg.max(), d_gp.max()))
    hdp = float(max(np.percentile(d_pg, percentile), np.percentile(d_gp, percentile)))
    return hd, hdp


def hausdorff(pred: np.ndarray, gt: np.ndarray) -> float:
    return hausdorff_pair(pred, gt)[0]


def hd95(pred: np.ndarray, gt: np.ndarray) -> float:
    return hausdorff_pair(pred, gt, 95.0)[1]


def seg_scores(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None = None) -> dict[str, float]:
    """dice, hd, hd95, hd_pct (HD as % of the image diagonal) and empty_case (0/1)."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
    if ignore is not None:
        pred = np.where(ignore.astype(bool), gt, pred)
    hd, h95 = hausdorff_pair(pred, gt)
    diag = float(np.hypot(*gt.shape))
    return {"dice": dice(pred, gt), "hd": hd, "hd95": h95, "hd_pct": 100.0 * hd / diag,
            "empty_case": float(pred.any() != gt.any())}
