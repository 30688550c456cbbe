"""Marker points: simulated from a ground-truth mask (spec section 10), taken from scribbles, parsed
from the command line, and scaled to the working resolution. Points are (row, col) int arrays."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from shared.errors import ConfigError


def interior_distance(gt: np.ndarray) -> np.ndarray:
    """EDT of the object with the image border counting as boundary (pad by 1, crop back)."""
    padded = np.pad(gt.astype(bool), 1, constant_values=False)
    return ndimage.distance_transform_edt(padded)[1:-1, 1:-1]


def simulate_markers(gt: np.ndarray, k: int, mode: str = "farthest", seed: int = 0, index: int = 0) -> np.ndarray:
    """k interior clicks: marker 1 at the EDT argmax, the rest by farthest-point sampling ('farthest')
    or uniformly ('random', rng seeded by seed + index) over {E >= max(3, 0.2 max E)}.

    Returns (n, 2) int (row, col), n <= k (fewer when the candidate set is smaller); (0, 2) if gt is empty.
    """
    if mode not in ("farthest", "random"):
        raise ConfigError(f"marker mode must be 'farthest' or 'random', got {mode!r}")
    e = interior_distance(gt)
    if e.max() <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    first = np.unravel_index(int(np.argmax(e)), e.shape)
    cand = np.argwhere(e >= max(3.0, 0.2 * float(e.max())))  # raster order
    if len(cand) == 0:
        cand = np.argwhere(e > 0)
    chosen = [np.array(first)]
    if mode == "random":
        rest = cand[~np.all(cand == chosen[0], axis=1)]
        rng = np.random.default_rng(seed + index)
        pick = rng.choice(len(rest), size=min(k - 1, len(rest)), replace=False) if k > 1 and len(rest) else []
        chosen += [rest[i] for i in np.sort(np.asarray(pick, dtype=int))]
        return np.stack(chosen).astype(np.int64)
    dist = np.hypot(*(cand - chosen[0]).T)
    while len(chosen) < min(k, len(cand)):
        i = int(np.argmax(dist))
        if dist[i] <= 0:
            break
        chosen.append(cand[i])
        dist = np.minimum(dist, np.hypot(*(cand - cand[i]).T))
    return np.stack(chosen).astype(np.int64)


def scribble_points(scribbles: np.ndarray, label: int = 1) -> np.ndarray:
    """All pixels of a scribble map with value ``label`` (1 = foreground strokes) as (row, col)."""
    return np.argwhere(scribbles == label).astype(np.int64)


def scale_points(points: np.ndarray, src: tuple[int, int], dst: tuple[int, int]) -> np.ndarray:
    """Map (row, col) from an src (H, W) grid to dst by scaling pixel centres, rounding and clamping."""
    if len(points) == 0:
        return points.reshape(0, 2).astype(np.int64)
    sy, sx = dst[0] / src[0], dst[1] / src[1]
    rows = np.clip(np.round((points[:, 0] + 0.5) * sy - 0.5), 0, dst[0] - 1)
    cols = np.clip(np.round((points[:, 1] + 0.5) * sx - 0.5), 0, dst[1] - 1)
    return np.unique(np.stack((rows, cols), 1).astype(np.int64), axis=0)


def points_to_mask(points: np.ndarray, shape: tuple[int, int], radius: int = 0) -> np.ndarray:
    """Boolean marker mask; each point optionally dilated to a disk of ``radius``."""
    mask = np.zeros(shape, dtype=bool)
    mask[points[:, 0], points[:, 1]] = True
    if radius > 0:
        yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
        mask = ndimage.binary_dilation(mask, structure=(yy ** 2 + xx ** 2) <= radius ** 2)
    return mask


def parse_points(raw: str | Sequence[Any] | None, width: int, height: int, what: str = "POINTS",
                 required: bool = True, max_points: int | None = None) -> np.ndarray:
    """The one reader of clicked points (``make select``, ``cut_out``, the page): ``"x,y;x,y"`` (pixel column,
    row; spaces around the numbers are fine) or ``[[x, y], ...]`` -> (n, 2) int (row, col). A point that is
    not two finite numbers (``true`` is not 1), lies off the photo, or more than ``max_points`` points are a
    ConfigError quoting what was received; none given is one too when ``required``."""
    if raw is None or (isinstance(raw, str) and not raw.strip()) or (not isinstance(raw, str) and len(raw) == 0):
        if required:
            raise ConfigError(f'no {what} given: pass {what}="x,y;x,y" (pixel column,row inside the product)')
        return np.zeros((0, 2), dtype=np.int64)
    if isinstance(raw, str):
        pairs = [_text_point(part.strip(), raw, what) for part in raw.strip().strip(";").split(";")]
    elif isinstance(raw, list | tuple):
        pairs = [_pair(p, what) for p in raw]
    else:
        raise ConfigError(f"{what} must be x,y pairs, got {shorten(raw)}")
    if max_points is not None and len(pairs) > max_points:
        raise ConfigError(f"{len(pairs)} {what} points; at most {max_points} clicks are taken at once")
    for x, y in pairs:
        if not (0 <= x < width and 0 <= y < height):
            raise ConfigError(f"{what} point ({shorten(x)}, {shorten(y)}) is off the photo ({width}x{height}, "
                              f"width x height)")
    return np.array([(int(y), int(x)) for x, y in pairs], dtype=np.int64).reshape(-1, 2)


def _is_number(value: Any) -> bool:
    """A finite number, not a bool (JSON ``true`` is not 1); a huge int is compared exactly."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def shorten(value: Any, limit: int = 40) -> str:
    """A received value for a message, cut to ``limit`` characters (a coordinate may have 400 digits)."""
    text = f"{value:g}" if isinstance(value, float) else str(value) if isinstance(value, int) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _pair(point: Any, what: str) -> tuple[float, float]:
    if not isinstance(point, list | tuple) or len(point) != 2 or not all(_is_number(v) for v in point):
        raise ConfigError(f"cannot read {what} point {shorten(point)}: expected [x, y] numbers")
    return point[0], point[1]


def _text_point(part: str, received: str, what: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in part.split(","))  # ValueError unless exactly two numbers
        if not (np.isfinite(x) and np.isfinite(y)):
            raise ValueError(part)
    except ValueError:
        raise ConfigError(f"cannot read point {part!r} of {what}={shorten(received)}: expected x,y pairs (pixel "
                          f'column,row) separated by ";", e.g. {what}="120,80;140,95"') from None
    return x, y
