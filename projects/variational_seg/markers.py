"""Marker points: simulated from a ground-truth mask (spec section 10), taken from scribbles, parsed
from the command line, and scaled to the working resolution. Points are (row, col) int arrays."""

from __future__ import annotations

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


def parse_points(text: str | None, width: int, height: int) -> np.ndarray:
    """``"x,y;x,y"`` (pixel column, row; spaces around the numbers are fine) -> (n, 2) (row, col);
    a point that is not two numbers, or lies outside the image, is an error quoting what was received."""
    if text is None or not str(text).strip():
        raise ConfigError('no marker points given: pass POINTS="x,y;x,y" (pixel column,row inside the product)')
    received = str(text)
    points = []
    for part in received.strip().strip(";").split(";"):
        x, y = _point(part.strip(), received)
        if not (0 <= x < width and 0 <= y < height):
            raise ConfigError(f"point ({x:g},{y:g}) is outside the image ({width}x{height}, width x height)")
        points.append((int(y), int(x)))
    return np.array(points, dtype=np.int64)


def _point(part: str, received: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in part.split(","))  # ValueError unless exactly two numbers
        if not (np.isfinite(x) and np.isfinite(y)):
            raise ValueError(part)
    except ValueError:
        raise ConfigError(f"cannot read point {part!r} of POINTS={received!r}: expected x,y pairs (pixel "
                          f'column,row) separated by ";", e.g. POINTS="120,80;140,95"') from None
    return x, y
