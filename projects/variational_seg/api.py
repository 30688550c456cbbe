"""Cut a product out of a photo from a few clicks, in Python, without a config::

    from projects.variational_seg.api import cut_out
    result = cut_out("photo.jpg", fg_points=[(120, 80), (140, 95)], bg_points=[(5, 5)])
    result["mask"]      # HxW bool, True on the product
    result["cutout"]    # HxWx4 uint8 RGBA: the photo, transparent off the product
    result["fraction"]  # share of the photo on the product

Points are (x, y) = (pixel column, row) of the photo as a viewer shows it (EXIF orientation applied), as
``make select POINTS=...``. It runs exactly what ``make select`` runs (projects/variational_seg/select.py)
with the configuration ``make select`` uses: the shipped click model ``wbh_colour_extent_later_ensemble`` (a
learned first click that also reads later positive clicks, three trained nets averaged; full-resolution cut-out) at
its GrabCut-tuned working size (``model=`` picks another variational model or an anchor).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from omegaconf import DictConfig

from shared.api import Input, as_rgb
from shared.errors import ConfigError

# what the Makefile's select and serve targets add
SHIPPED_MODEL, SHIPPED_DATA = "wbh_colour_extent_later_ensemble", "grabcut"


@lru_cache(maxsize=8)
def _config(model: str) -> DictConfig:
    from shared.config import compose

    return compose("variational_seg", [f"model={model}", f"data={SHIPPED_DATA}"], task="select")


def cut_out(image: Input, fg_points: Sequence[Sequence[float]], bg_points: Sequence[Sequence[float]] | None = None,
            model: str = SHIPPED_MODEL, order: Sequence[str] | None = None,
            previous: np.ndarray | None = None) -> dict[str, Any]:
    """``{"mask": HxW bool, "cutout": HxWx4 uint8, "fraction": float}`` for a photo (path, PIL image or
    HxWx3 uint8 array) and foreground clicks (optional background clicks); ``order``: 'fg' / 'bg' per click
    in the order they were made (default: the foreground clicks first); ``previous``: the mask of the clicks
    before the last one (then only the last click is solved, with that mask as its prior); see the module
    docstring."""
    from projects.variational_seg.pipeline import set_threads
    from projects.variational_seg.select import cutout, select_mask

    rgb = as_rgb(image)
    if fg_points is None or len(fg_points) == 0:
        raise ConfigError("cut_out needs at least one foreground click: fg_points=[(x, y), ...] inside the product")
    cfg = _config(model)
    set_threads(cfg.working)
    mask = select_mask(rgb, _as_list(fg_points), cfg, _as_list(bg_points) or [], order, previous,
                       names=("fg_points", "bg_points"))
    return {"mask": mask, "cutout": cutout(rgb, mask), "fraction": float(mask.mean())}


def _as_list(points: Sequence[Sequence[float]] | None) -> list | None:
    """Points as a list (a NumPy array of pairs too), for ``markers.parse_points``."""
    if points is None:
        return None
    return [list(p) if isinstance(p, tuple | list | np.ndarray) else p for p in points]
