"""Cut a product out of a photo from a few clicks, in Python, without a config::

    from projects.variational_seg.api import cut_out
    result = cut_out("photo.jpg", fg_points=[(120, 80), (140, 95)], bg_points=[(5, 5)])
    result["mask"]      # HxW bool, True on the product
    result["cutout"]    # HxWx4 uint8 RGBA: the photo, transparent off the product
    result["fraction"]  # share of the photo on the product

Points are (x, y) = (pixel column, row) of the photo as a viewer shows it (EXIF orientation applied), as
``make select POINTS=...``. It runs exactly what ``make select`` runs (projects/variational_seg/select.py)
with the configuration ``make select`` uses: the shipped model ``wbh_colour`` at its GrabCut-tuned working size
(``model=`` picks another variational model or an anchor).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from shared.api import Input, as_rgb
from shared.errors import ConfigError

SHIPPED_MODEL, SHIPPED_DATA = "wbh_colour", "grabcut"   # what the Makefile's select and serve targets add


@lru_cache(maxsize=8)
def _config(model: str) -> DictConfig:
    from shared.config import compose

    return compose("variational_seg", [f"model={model}", f"data={SHIPPED_DATA}"], task="select")


def _points_text(points: Sequence[Sequence[float]] | None, what: str) -> str | None:
    """[(x, y), ...] -> ``"x,y;x,y"`` (select's POINTS format, checked there against the photo's size)."""
    if points is None or len(points) == 0:
        return None
    try:
        pairs = [(float(x), float(y)) for x, y in points]
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be (x, y) pixel pairs, e.g. [(120, 80), (140, 95)]; got {points!r}") from None
    return ";".join(f"{x:g},{y:g}" for x, y in pairs)


def cut_out(image: Input, fg_points: Sequence[Sequence[float]], bg_points: Sequence[Sequence[float]] | None = None,
            model: str = SHIPPED_MODEL) -> dict[str, Any]:
    """``{"mask": HxW bool, "cutout": HxWx4 uint8, "fraction": float}`` for a photo (path, PIL image or
    HxWx3 uint8 array) and foreground clicks (optional background clicks); see the module docstring."""
    from projects.variational_seg.pipeline import set_threads
    from projects.variational_seg.select import cutout, select_mask

    rgb = as_rgb(image)
    fg = _points_text(fg_points, "fg_points")
    if fg is None:
        raise ConfigError("cut_out needs at least one foreground click: fg_points=[(x, y), ...] inside the product")
    cfg = OmegaConf.create(OmegaConf.to_container(_config(model)))
    with open_dict(cfg):
        cfg.bg_points = _points_text(bg_points, "bg_points")
    set_threads(cfg.working)
    mask = select_mask(rgb, fg, cfg)
    return {"mask": mask, "cutout": cutout(rgb, mask), "fraction": float(mask.mean())}
