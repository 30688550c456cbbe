"""Each click's disk on a pixel grid, trimmed at colour edges: the one painter of the clicks kept at full
resolution (``click_model.paint_clicks``) and of the band solve's fine grid (``band_solve``).

Pixel (i, j) of the grid covers ``step`` full-resolution px from ``origin + (i, j) * step`` on (its centre at
``origin + (i + 0.5, j + 0.5) * step``; step 1, origin 0: the photo itself). A click's disk holds the grid pixels
within ``radius`` full-resolution px of it, only those whose Lab colour is within ``edge_tol`` of the clicked
pixel's when ``edge_tol`` > 0 (the disk stops at a colour edge), and always the clicked pixel. Lab is converted
per disk, so a 12-MP photo is never converted whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from projects.variational_seg.clicker import Click
from projects.variational_seg.colour_term import lab_image

Patch = tuple[slice, slice]


def click_disks(clicks: Sequence[Click], rgb: np.ndarray, radius: float, edge_tol: float,
                origin: tuple[int, int] = (0, 0),
                step: tuple[float, float] = (1.0, 1.0)) -> Iterator[tuple[Patch, np.ndarray, bool]]:
    """(the patch of ``rgb``'s grid, the disk as a bool mask of the patch, the click's label) per click, in
    click order (paint them in this order and the latest click wins); a click off the grid is skipped."""
    h, w = rgb.shape[:2]
    ry, rx = int(np.ceil(radius / step[0])), int(np.ceil(radius / step[1]))
    for c in clicks:
        i, j = int((c.row - origin[0]) / step[0]), int((c.col - origin[1]) / step[1])
        if not (0 <= i < h and 0 <= j < w):
            continue
        top, bottom, left, right = max(0, i - ry), min(h, i + ry + 1), max(0, j - rx), min(w, j + rx + 1)
        yy, xx = np.mgrid[top:bottom, left:right]
        disk = ((yy - i) * step[0]) ** 2 + ((xx - j) * step[1]) ** 2 <= radius * radius
        if edge_tol > 0:
            lab = lab_image(rgb[top:bottom, left:right])
            disk &= np.linalg.norm(lab - lab[i - top, j - left], axis=-1) <= edge_tol
        disk[i - top, j - left] = True
        yield (slice(top, bottom), slice(left, right)), disk, c.positive
