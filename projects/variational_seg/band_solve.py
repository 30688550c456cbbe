"""The band solve of the full-resolution cut-out (issue 29, ``refine.mode: band_solve``): the working-size
mask (long side ~160 px) cannot hold parts thinner than one working px, and its upsampled boundary cuts
through the photo's detail. Here the boundary is solved again on a finer grid, in a band around it:

* the bounding box of the pixels within ``radius`` working px of the coarse boundary is cropped from the
  full-resolution photo and resized to ``scale`` x the working resolution (never above the photo's own);
* on that grid the band (within ``radius`` x ``scale`` fine px of the coarse boundary) is free, every other
  pixel keeps the coarse label, and each click's disk (``clicks.full_res`` full-resolution px, trimmed at
  colour edges like the painted disk) keeps the click's label;
* the data term is the click model's own colour mixtures (already fitted at the working size) evaluated on
  the fine pixels' Lab colours, F = clip((log p_bg - log p_fg) / colour.scale, -1, 1), blended with the
  coarse mask's pull 1 - 2u by ``prior``; the smoothness is ``smooth`` x GrabCut's contrast weights on the
  fine colours; the labelling is a minimum cut (``graph_cut``);
* the fine labels are upsampled bilinearly to the photo's resolution inside the box; outside it the coarse
  probability upsampled bilinearly; ``band_guided``: then the guided filter of ``refine`` on that result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from projects.variational_seg.click_disks import click_disks
from projects.variational_seg.clicker import Click
from projects.variational_seg.colour_term import lab_image
from projects.variational_seg.graph_cut import contrast_weights, grid_cut
from projects.variational_seg.refine import RefineOptions, band_box, full_box, guided_fit


def boundary_band(inside: np.ndarray, width: float) -> np.ndarray:
    """Bool (H, W): the pixels within ``width`` px (Euclidean) of the boundary of the bool mask ``inside``,
    on both sides (a pixel's distance to the nearest pixel of the other label)."""
    inside_u8 = inside.astype(np.uint8)
    if inside_u8.min() == inside_u8.max():
        return np.zeros(inside.shape, dtype=bool)
    d_in = cv2.distanceTransform(inside_u8, cv2.DIST_L2, 3)
    d_out = cv2.distanceTransform(1 - inside_u8, cv2.DIST_L2, 3)
    return np.where(inside, d_in, d_out) <= width


def colour_data_term(lab: np.ndarray, models: tuple[Any, Any], scale: float) -> np.ndarray:
    """(N,) F = clip((log p_bg - log p_fg) / scale, -1, 1) of (N, 3) Lab colours under the fitted
    (foreground, background) mixtures (not re-fitted: 0 EM steps)."""
    ratio = models[1].loglik(lab, np.ones(len(lab)), steps=0) - models[0].loglik(lab, np.ones(len(lab)), steps=0)
    return np.clip(ratio / scale, -1.0, 1.0)


def click_labels(clicks: Sequence[Click], rgb: np.ndarray, origin: tuple[int, int], step: tuple[float, float],
                 radius: float, edge_tol: float) -> tuple[np.ndarray, np.ndarray]:
    """(fixed, foreground) bool masks on the fine grid of ``rgb`` (H, W, 3) whose pixel (i, j) is the full-
    resolution point ``origin + (i + 0.5, j + 0.5) * step``: each click's disk (``click_disks``), latest last."""
    fixed, fg = np.zeros(rgb.shape[:2], dtype=bool), np.zeros(rgb.shape[:2], dtype=bool)
    for patch, disk, positive in click_disks(clicks, rgb, radius, edge_tol, origin, step):
        fixed[patch] |= disk
        fg[patch][disk] = positive
    return fixed, fg


def band_solve(image: np.ndarray, coarse: np.ndarray, models: tuple[Any, Any], clicks: Sequence[Click],
               opts: RefineOptions, colour_scale: float, click_radius: float, edge_tol: float) -> np.ndarray:
    """Foreground probability (H, W) float32 at ``image``'s resolution from the working-size probability
    ``coarse`` (h, w), its boundary band solved on the finer grid (module docstring)."""
    h_full, w_full = image.shape[:2]
    h, w = coarse.shape
    coarse = coarse.astype(np.float32)
    out = cv2.resize(coarse, (w_full, h_full), interpolation=cv2.INTER_LINEAR)
    box = band_box(coarse, opts)
    if box is None or opts.radius <= 0:
        return out
    sy, sx = h_full / h, w_full / w
    top, bottom, left, right = full_box(box, (h, w), (h_full, w_full))
    crop = image[top:bottom, left:right]
    ch, cw = crop.shape[:2]
    fine = min(1.0, opts.scale / min(sy, sx))              # fine px per full-resolution px
    fh, fw = max(1, round(ch * fine)), max(1, round(cw * fine))
    small = cv2.resize(crop, (fw, fh), interpolation=cv2.INTER_AREA) if (fh, fw) != (ch, cw) else crop
    prior = cv2.resize(out[top:bottom, left:right], (fw, fh), interpolation=cv2.INTER_LINEAR)
    inside = prior >= 0.5
    free = boundary_band(inside, opts.radius * opts.scale)
    lab = lab_image(small)
    step = (ch / fh, cw / fw)
    fixed, click_fg = click_labels(clicks, small, (top, left), step, click_radius, edge_tol)
    free &= ~fixed
    fixed_fg = np.where(fixed, click_fg, inside)
    f = colour_data_term(lab[free].reshape(-1, 3), models, colour_scale)
    if opts.prior > 0:
        f = (1.0 - opts.prior) * f + opts.prior * (1.0 - 2.0 * prior[free])
    cost_fg, cost_bg = np.zeros((fh, fw)), np.zeros((fh, fw))
    cost_fg[free], cost_bg[free] = np.maximum(f, 0.0), np.maximum(-f, 0.0)
    w_right, w_down = contrast_weights(lab)
    labels = grid_cut(cost_fg, cost_bg, opts.smooth * w_right, opts.smooth * w_down, free, fixed_fg)
    q = labels.astype(np.float32)
    if (fh, fw) != (ch, cw):
        q = cv2.resize(q, (cw, ch), interpolation=cv2.INTER_LINEAR)
    out[top:bottom, left:right] = q
    if opts.mode == "band_guided":
        return guided_fit(image, out, (top, bottom, left, right), opts.radius * max(sy, sx), opts)
    return out
