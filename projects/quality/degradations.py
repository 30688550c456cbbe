"""Product-photo degradations with five severities, deterministic from a numpy Generator.

Used by the constructed quality benchmark (:mod:`projects.quality.datasets`), the audit and the analysis.

Every function takes an RGB uint8 HxWx3 image, a severity 1..5 and a ``numpy.random.Generator`` and
returns a new uint8 image of the same size. The same (image, severity, generator state) always gives
the same bytes; with the same generator state, a higher severity is a stronger version of the same
degradation (same blur angle, noise pattern, cast direction, crop corner), so the damage grows
monotonically (tested with SSIM in ``tests/quality/test_quality_degradations.py``).

Severity parameters (images are about 128x96 in the benchmark):

=================  ==========================================================  ====================
defect             operation                                                   severity 1 .. 5
=================  ==========================================================  ====================
blur (defocus)     ``A.Defocus`` disc radius (alias blur 0.1)                  1, 2, 3, 4, 6 px
blur (motion)      line kernel (``motion_kernel``), random angle, centred    3, 5, 7, 9, 13 px
noise              ``A.GaussNoise`` per-channel std (fraction of 255)           .03 .06 .09 .13 .18
jpeg               ``A.ImageCompression`` JPEG quality                          30, 20, 12, 8, 5
underexposed       ``x' = gain * x^gamma`` (x in [0, 1])                         gain .75 .62 .5 .4 .3,
                                                                               gamma 1.3 1.6 1.9 2.3 2.8
overexposed        ``x' = min(1, gain * x + offset)``                           gain 1.3 1.55 1.8 2.2 2.7,
                                                                               offset .05 .1 .15 .2 .25
low_resolution     ``A.Downscale`` (area down, bilinear up) by factor           2, 3, 4, 6, 8
colour_cast        per-channel gains ``1 + s * d``, d a random direction         s .12 .2 .3 .4 .55
framing (cut off)  crop a corner-anchored window of this fraction, resize up   .8 .7 .6 .5 .4
framing (tiny)     shrink to this fraction on a border-colour canvas          .7 .55 .45 .35 .25
clutter            blend a busy photo into the background (subject mask kept)  w .35 .5 .65 .8 1.0
=================  ==========================================================  ====================
"""

from __future__ import annotations

from collections.abc import Callable

import albumentations as A
import cv2
import numpy as np
from scipy import ndimage

from shared.errors import ConfigError

DEFECTS: tuple[str, ...] = ("blur", "noise", "jpeg", "underexposed", "overexposed", "low_resolution",
                            "colour_cast", "framing", "clutter")
SEVERITIES = (1, 2, 3, 4, 5)

_DEFOCUS = (1, 2, 3, 4, 6)
_MOTION = (3, 5, 7, 9, 13)
_NOISE = (0.03, 0.06, 0.09, 0.13, 0.18)
_JPEG = (30, 20, 12, 8, 5)
_UNDER_GAIN, _UNDER_GAMMA = (0.75, 0.62, 0.5, 0.4, 0.3), (1.3, 1.6, 1.9, 2.3, 2.8)
_OVER_GAIN, _OVER_OFFSET = (1.3, 1.55, 1.8, 2.2, 2.7), (0.05, 0.1, 0.15, 0.2, 0.25)
_DOWN = (2, 3, 4, 6, 8)
_CAST = (0.12, 0.2, 0.3, 0.4, 0.55)
_CUT = (0.8, 0.7, 0.6, 0.5, 0.4)
_TINY = (0.7, 0.55, 0.45, 0.35, 0.25)
_CLUTTER = (0.35, 0.5, 0.65, 0.8, 1.0)


def _level(table: tuple, severity: int):
    if severity not in SEVERITIES:
        raise ConfigError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    return table[severity - 1]


def _albu(transform: A.BasicTransform, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Apply one albumentations transform, seeded from ``rng`` (so the result is reproducible)."""
    return A.Compose([transform], seed=int(rng.integers(2**31)))(image=image)["image"]


def blur(image: np.ndarray, severity: int, rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """Defocus (disc) or motion blur; ``kind`` is drawn from ``rng`` when not given."""
    draw = rng.random()
    kind = kind or ("defocus" if draw < 0.5 else "motion")
    if kind == "defocus":
        r = _level(_DEFOCUS, severity)
        return _albu(A.Defocus(radius=(r, r), alias_blur=(0.1, 0.1), p=1.0), image, rng)
    return cv2.filter2D(image, -1, motion_kernel(_level(_MOTION, severity), float(rng.uniform(0, 180))),
                        borderType=cv2.BORDER_REFLECT_101)


def motion_kernel(length: int, angle_deg: float) -> np.ndarray:
    """A centred straight line of ``length`` pixels at ``angle_deg``, anti-aliased, summing to 1.

    Written out (instead of ``A.MotionBlur``) because albumentations' kernel for two different
    lengths can coincide at some angles, which broke severity monotonicity."""
    size = length if length % 2 else length + 1
    kernel = np.zeros((size * 4, size * 4), np.float32)  # drawn 4x larger, then area-downsampled
    c, half = (size * 4 - 1) / 2, (length * 4 - 1) / 2
    dx, dy = np.cos(np.deg2rad(angle_deg)) * half, np.sin(np.deg2rad(angle_deg)) * half
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, thickness=4)
    kernel = cv2.resize(kernel, (size, size), interpolation=cv2.INTER_AREA)
    return kernel / kernel.sum()


def noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    std = _level(_NOISE, severity)
    # The noise field is drawn once at unit scale, so that severities share the same pattern.
    field = rng.standard_normal(image.shape).astype(np.float32)
    return np.clip(image.astype(np.float32) + field * std * 255.0, 0, 255).round().astype(np.uint8)


def jpeg(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    q = _level(_JPEG, severity)
    return _albu(A.ImageCompression(compression_type="jpeg", quality_range=(q, q), p=1.0), image, rng)


def underexposed(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = image.astype(np.float32) / 255.0
    out = _level(_UNDER_GAIN, severity) * np.power(x, _level(_UNDER_GAMMA, severity))
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def overexposed(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    x = image.astype(np.float32) / 255.0
    out = _level(_OVER_GAIN, severity) * x + _level(_OVER_OFFSET, severity)
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def low_resolution(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    f = _level(_DOWN, severity)
    return _albu(A.Downscale(scale_range=(1 / f, 1 / f), p=1.0,
                             interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR}),
                 image, rng)


def colour_cast(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    direction = rng.uniform(-1, 1, 3)
    direction -= direction.mean()  # a hue shift, not a brightness change
    direction /= max(np.abs(direction).max(), 1e-6)
    gains = 1.0 + _level(_CAST, severity) * direction
    return np.clip(image.astype(np.float32) * gains[None, None, :], 0, 255).round().astype(np.uint8)


def border_colour(image: np.ndarray) -> np.ndarray:
    """Median colour of the one-pixel border (the studio background for catalogue shots)."""
    ring = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return np.median(ring, axis=0).astype(np.uint8)


def framing(image: np.ndarray, severity: int, rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """Subject cut off (a corner-anchored zoomed crop) or subject tiny (shrunk onto a canvas)."""
    h, w = image.shape[:2]
    draw = rng.random()
    kind = kind or ("cutoff" if draw < 0.5 else "tiny")
    u, v = rng.random(2)  # where the crop / the shrunken photo sits, shared by all severities
    if kind == "cutoff":
        f = _level(_CUT, severity)
        ch, cw = max(2, round(h * f)), max(2, round(w * f))
        corner = int(rng.integers(4))  # crop towards a corner so the subject is cut by two edges
        y0 = (h - ch) if corner in (2, 3) else 0
        x0 = (w - cw) if corner in (1, 3) else 0
        # Slide a little along the edges (u, v) but stay anchored to the chosen corner's half.
        y0 = int(round(y0 * (0.75 + 0.25 * u))) if y0 else int(round((h - ch) * 0.25 * u))
        x0 = int(round(x0 * (0.75 + 0.25 * v))) if x0 else int(round((w - cw) * 0.25 * v))
        crop = image[y0:y0 + ch, x0:x0 + cw]
        return cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)
    f = _level(_TINY, severity)
    sh, sw = max(2, round(h * f)), max(2, round(w * f))
    canvas = np.empty_like(image)
    canvas[:] = border_colour(image)
    y0, x0 = int(round((h - sh) * u)), int(round((w - sw) * v))
    canvas[y0:y0 + sh, x0:x0 + sw] = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
    return canvas


def subject_mask(image: np.ndarray, threshold: int = 232) -> np.ndarray | None:
    """Foreground of a studio shot on a light background: pixels darker than ``threshold`` in some
    channel, holes filled, specks removed. ``None`` when the photo does not look like a studio shot
    (almost no background or almost no subject), in which case clutter is not applicable."""
    fg = image.min(axis=2) < threshold
    fg = ndimage.binary_opening(fg, iterations=1)
    fg = ndimage.binary_fill_holes(fg)
    fraction = fg.mean()
    border = np.concatenate([fg[0], fg[-1], fg[:, 0], fg[:, -1]]).mean()
    if not 0.03 <= fraction <= 0.85 or border > 0.5:
        return None
    return fg


def clutter(image: np.ndarray, severity: int, rng: np.random.Generator, mask: np.ndarray,
            background: np.ndarray) -> np.ndarray:
    """Replace the clean studio background by a blend with a busy photo; the subject is kept."""
    w = _level(_CLUTTER, severity)
    bg = cv2.resize(background, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_AREA)
    soft = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0)[..., None]  # no hard cut-out edge
    mixed = (1 - w) * image.astype(np.float32) + w * bg.astype(np.float32)
    out = soft * image.astype(np.float32) + (1 - soft) * mixed
    return np.clip(out, 0, 255).round().astype(np.uint8)


DEGRADATIONS: dict[str, Callable[..., np.ndarray]] = {
    "blur": blur, "noise": noise, "jpeg": jpeg, "underexposed": underexposed, "overexposed": overexposed,
    "low_resolution": low_resolution, "colour_cast": colour_cast, "framing": framing, "clutter": clutter,
}


def degrade(image: np.ndarray, defect: str, severity: int, rng: np.random.Generator, **context) -> np.ndarray:
    """Apply one named defect. ``clutter`` needs ``mask=`` and ``background=`` in ``context``."""
    if defect not in DEGRADATIONS:
        raise ConfigError(f"unknown defect {defect!r}; known: {', '.join(DEFECTS)}")
    fn = DEGRADATIONS[defect]
    if defect == "clutter":
        return fn(image, severity, rng, mask=context["mask"], background=context["background"])
    return fn(image, severity, rng)
