"""``make select IMAGE=photo.jpg POINTS="x,y;x,y" OUT=mask.png``: segment your own photo from a few clicks.

Writes the binary mask (0/255 PNG) to OUT and a cut-out with a transparent background beside it
(``<OUT stem>_cutout.png``). Uses the proposed model with the spec defaults (or ``model=...``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from PIL import Image

from projects.variational_seg.markers import parse_points
from projects.variational_seg.params import resolve_params
from projects.variational_seg.pipeline import segment, set_threads
from shared.data.io import read_image
from shared.errors import ConfigError


def cutout(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGBA: the photo with alpha 255 on the mask and 0 elsewhere."""
    return np.dstack([image, np.where(mask, 255, 0).astype(np.uint8)])


def select_mask(image: np.ndarray, points_text: str | None, cfg: DictConfig) -> np.ndarray:
    points = parse_points(points_text, image.shape[1], image.shape[0])
    if cfg.model.kind != "variational":
        raise ConfigError("select uses a variational model (wbh, tv, rci, ...), not the U-Net")
    params = resolve_params(cfg.model, cfg.data.solver, cfg.data.tuned)
    return segment([image], [points], params, int(cfg.working.max_side))[0].prob > 0.5


def run(cfg: DictConfig) -> Path:
    if not cfg.get("image"):
        raise ConfigError('select needs an image: make select IMAGE=photo.jpg POINTS="x,y;x,y" OUT=mask.png')
    set_threads(cfg.working)
    image = read_image(cfg.image)
    mask = select_mask(image, cfg.get("points"), cfg)
    out = Path(cfg.output) if cfg.get("output") else Path(cfg.image).with_name(Path(cfg.image).stem + "_mask.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(out)
    cut = out.with_name(out.stem + "_cutout.png")
    Image.fromarray(cutout(image, mask), mode="RGBA").save(cut)
    print(f"mask ({mask.mean() * 100:.1f}% of the image) -> {out}; cut-out -> {cut}")
    return out
