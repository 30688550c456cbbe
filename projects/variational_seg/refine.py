"""The full-resolution cut-out (issue 29): the mask is solved at the working size (long side ~160 px), so
upsampled alone its boundary is a smooth curve that cuts through the photo's fine detail. Here the
upsampled probability is re-fitted to the photo's own edges at full resolution with a colour guided
filter (He, Sun & Tang, "Guided image filtering", TPAMI 2013; its fast variant, He & Sun 2015):

* near the coarse boundary only (a band of ``radius`` working px around it; elsewhere the mask is the
  coarse one, which is 0 or 1 there anyway): its bounding box is cropped at full resolution;
* the filter's linear coefficients ``a, b`` (q = a . I + b per window) are computed on that crop
  shrunk to at most ``grid`` px on the long side (their cost does not grow with the photo), then
  upsampled bilinearly and applied to the full-resolution colours, so q's edges are the photo's edges;
* ``radius`` in working px (the coarse mask is uncertain by about one working px = full / working
  px), ``eps`` the regularisation on colours in [0, 1] (smaller: q follows weaker edges);
* the mask is q > 0.5.

OpenCV's ``cv2.ximgproc.guidedFilter`` (opencv-contrib) is not in this environment; the filter is a
dozen ``cv2.boxFilter`` calls and a per-pixel 3 x 3 solve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import cv2
import numpy as np

from shared.errors import ConfigError

REFINE_MODES = ("guided", "band_solve", "band_guided")


@dataclass(frozen=True)
class RefineOptions:
    """``model.refine`` of a model config."""

    radius: float = 1.0     # guided-filter window radius and band half-width, in working px (0: off, bilinear)
    eps: float = 1e-3       # regularisation (colours in [0, 1]); larger: smoother, follows only strong edges
    grid: int = 320         # long side of the grid the coefficients are computed on (speed: 1 MP in ~0.03 s)
    band: float = 0.02      # the band: coarse probability in (band, 1 - band), dilated by ``radius``
    mode: str = "guided"    # guided: this filter | band_solve: a min cut on a finer grid in the band (band_solve.py)
                            # | band_guided: the min cut, then this filter on its result
    scale: float = 2.0      # band_solve: the fine grid's px per working px (capped at the photo's resolution)
    smooth: float = 1.0     # band_solve: weight of the contrast-weighted smoothness (the data term is in [-1, 1])
    prior: float = 0.0      # band_solve: weight of the coarse mask's pull 1 - 2u in the data term

    def __post_init__(self) -> None:
        if self.mode not in REFINE_MODES:
            raise ConfigError(f"model.refine.mode: {self.mode!r} is not one of {list(REFINE_MODES)}")


def refine_options(cfg: Mapping[str, Any] | None) -> RefineOptions | None:
    """``model.refine`` -> RefineOptions, or None when the model has no such block (bilinear upsampling)."""
    if cfg is None:
        return None
    given = dict(cfg)
    known = {f.name for f in fields(RefineOptions)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ConfigError(f"model.refine: unknown key(s) {unknown}; known: {sorted(known)}")
    return RefineOptions(**given)


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


@dataclass(frozen=True)
class CropGuide:
    """The half of the colour guided filter that depends on the photo alone, on one crop: the crop shrunk to the
    grid (``guide`` (h, w, 3) in [0, 1]), its window means and, per window, the adjugate and determinant of the
    regularised colour covariance (its inverse); with ``crop_guide`` also the crop's colours at full resolution
    and room for the coefficients upsampled there. ``GuideCache`` keeps the last one: while the band's box stays, a
    click skips the shrink, half the coefficient work and fresh full-resolution arrays (~15 ms at 1 MP)."""

    key: tuple[Any, ...]               # ``guide_key``
    r: int
    guide: np.ndarray
    mean_i: np.ndarray
    adjugate: tuple[np.ndarray, ...]   # c00, c01, c02, c11, c12, c22
    det: np.ndarray
    colours: np.ndarray                # (H, W, 3) float32 in [0, 1]: the crop at full resolution
    upsampled: tuple[np.ndarray, np.ndarray] | None   # (H, W, 3), (H, W) float32, written at each use; None: the
                                                      # crop is not shrunk


def guide_key(box: tuple[int, int, int, int], radius: float, opts: RefineOptions) -> tuple[Any, ...]:
    return box, radius, opts.eps, opts.grid


def guide_statistics(guide: np.ndarray, r: int, eps: float) -> tuple[np.ndarray, tuple[np.ndarray, ...], np.ndarray]:
    """``guide`` (H, W, 3) float32 in [0, 1] -> its window means, and per window the adjugate (c00, c01, c02, c11,
    c12, c22) and determinant of its regularised colour covariance, for windows of radius ``r``."""
    mean_i = _box(guide, r)
    pairs = {}
    for i in range(3):
        for j in range(i, 3):
            pairs[i, j] = _box(guide[..., i] * guide[..., j], r) - mean_i[..., i] * mean_i[..., j]
    s00, s01, s02 = pairs[0, 0] + eps, pairs[0, 1], pairs[0, 2]
    s11, s12, s22 = pairs[1, 1] + eps, pairs[1, 2], pairs[2, 2] + eps
    # the inverse of the symmetric 3 x 3 covariance per pixel, by its adjugate
    c00, c01, c02 = s11 * s22 - s12 * s12, s02 * s12 - s01 * s22, s01 * s12 - s02 * s11
    c11, c12, c22 = s00 * s22 - s02 * s02, s01 * s02 - s00 * s12, s00 * s11 - s01 * s01
    det = s00 * c00 + s01 * c01 + s02 * c02
    return mean_i, (c00, c01, c02, c11, c12, c22), det


def guided_coefficients(stats: CropGuide, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Window-averaged (a (H, W, 3), b (H, W)) of the colour guided filter of ``src`` (H, W) by the guide of
    ``stats``: q = sum(a * guide, -1) + b."""
    guide, mean_i, r = stats.guide, stats.mean_i, stats.r
    c00, c01, c02, c11, c12, c22 = stats.adjugate
    mean_p = _box(src, r)
    cov_ip = _box(guide * src[..., None], r) - mean_i * mean_p[..., None]
    cx, cy, cz = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a = np.stack([c00 * cx + c01 * cy + c02 * cz, c01 * cx + c11 * cy + c12 * cz,
                  c02 * cx + c12 * cy + c22 * cz], axis=-1) / stats.det[..., None]
    b = mean_p - (a * mean_i).sum(-1)
    return _box(a.astype(np.float32), r), _box(b.astype(np.float32), r)


def crop_guide(image: np.ndarray, box: tuple[int, int, int, int], radius: float, opts: RefineOptions) -> CropGuide:
    """The ``CropGuide`` of ``image``'s ``box`` (full-resolution px) for a window of ``radius`` full-resolution px,
    on the crop shrunk to at most ``opts.grid`` px."""
    top, bottom, left, right = box
    crop = image[top:bottom, left:right]
    ch, cw = crop.shape[:2]
    shrink = min(1.0, opts.grid / max(ch, cw))
    gh, gw = max(1, round(ch * shrink)), max(1, round(cw * shrink))
    shrunk = (gh, gw) != (ch, cw)
    guide = (cv2.resize(crop, (gw, gh), interpolation=cv2.INTER_AREA) if shrunk else crop).astype(np.float32) / 255.0
    r = max(1, round(radius * shrink))
    colours = crop.astype(np.float32)
    colours *= np.float32(1.0 / 255.0)
    room = (np.empty((ch, cw, 3), np.float32), np.empty((ch, cw), np.float32)) if shrunk else None
    return CropGuide(guide_key(box, radius, opts), r, guide, *guide_statistics(guide, r, opts.eps), colours, room)


class GuideCache:
    """The last ``CropGuide`` a click model made (one photo's: 28 bytes per pixel of the band's box, ~0.3 GB on a
    12-MP photo, so one is kept and not one per recent photo). One caller at a time: its buffers are written at each
    use (the page solves on one thread)."""

    def __init__(self) -> None:
        self.image: np.ndarray | None = None
        self.last: CropGuide | None = None

    def __call__(self, image: np.ndarray, box: tuple[int, int, int, int], radius: float,
                 opts: RefineOptions) -> CropGuide:
        if self.image is not image or self.last is None or self.last.key != guide_key(box, radius, opts):
            self.image, self.last = image, crop_guide(image, box, radius, opts)
        return self.last


def band_box(coarse: np.ndarray, opts: RefineOptions) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) on the working grid of the pixels within ``radius`` of the coarse
    boundary; None when there is no boundary."""
    band = (coarse > opts.band) & (coarse < 1.0 - opts.band)
    inside = coarse >= 0.5
    edge = inside ^ cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE
                              ).astype(bool)
    band |= edge
    if not band.any():
        return None
    rows, cols = np.nonzero(band)
    pad = int(np.ceil(opts.radius)) + 1
    h, w = coarse.shape
    return (max(0, rows.min() - pad), min(h, rows.max() + pad + 1), max(0, cols.min() - pad),
            min(w, cols.max() + pad + 1))


def full_box(box: tuple[int, int, int, int], working: tuple[int, int],
             full: tuple[int, int]) -> tuple[int, int, int, int]:
    """A (top, bottom, left, right) box on the ``working`` grid -> the box covering it on the ``full`` grid."""
    sy, sx = full[0] / working[0], full[1] / working[1]
    return (int(np.floor(box[0] * sy)), min(full[0], int(np.ceil(box[1] * sy))), int(np.floor(box[2] * sx)),
            min(full[1], int(np.ceil(box[3] * sx))))


def guided_fit(image: np.ndarray, prob: np.ndarray, box: tuple[int, int, int, int], radius: float,
               opts: RefineOptions, guides: GuideCache | None = None) -> np.ndarray:
    """``prob`` (H, W) float32 at ``image``'s resolution with its ``box`` (full-resolution px) replaced by
    its colour guided filter of window ``radius`` full-resolution px (coefficients on the ``grid``); ``guides``:
    the kept ``CropGuide`` (None: computed here)."""
    top, bottom, left, right = box
    stats = crop_guide(image, box, radius, opts) if guides is None else guides(image, box, radius, opts)
    src = prob[top:bottom, left:right]
    a, b = guided_coefficients(stats, src if stats.upsampled is None else cv2.resize(
        src, stats.guide.shape[1::-1], interpolation=cv2.INTER_AREA))
    if stats.upsampled is not None:
        a = cv2.resize(a, (right - left, bottom - top), dst=stats.upsampled[0], interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (right - left, bottom - top), dst=stats.upsampled[1], interpolation=cv2.INTER_LINEAR)
    # q = b + a_0 I_0 + a_1 I_1 + a_2 I_2, summed in that order, in place (fresh 1-MP temporaries cost page faults)
    np.multiply(a, stats.colours, out=a)
    q = np.add(b, a[..., 0], out=b)
    q += a[..., 1]
    q += a[..., 2]
    prob[top:bottom, left:right] = np.clip(q, 0.0, 1.0, out=q)
    return prob


def refine(image: np.ndarray, coarse: np.ndarray, opts: RefineOptions, guides: GuideCache | None = None) -> np.ndarray:
    """Foreground probability at ``image``'s resolution (H, W) float32 from the working-size probability
    ``coarse`` (h, w), its boundary moved onto the photo's edges (module docstring); ``guides``: a click model's
    ``GuideCache``, kept between clicks."""
    h_full, w_full = image.shape[:2]
    h, w = coarse.shape
    coarse = coarse.astype(np.float32)
    out = cv2.resize(coarse, (w_full, h_full), interpolation=cv2.INTER_LINEAR)
    if opts.radius <= 0:   # off: the bilinear upsampling
        return out
    box = band_box(coarse, opts)
    if box is None:
        return out
    radius = opts.radius * max(h_full / h, w_full / w)
    return guided_fit(image, out, full_box(box, (h, w), (h_full, w_full)), radius, opts, guides)
