"""``make select IMAGE=photo.jpg POINTS="x,y;x,y" OUT=mask.png``: segment your own photo from a few clicks.

Writes the binary mask (0/255 PNG) to OUT and a cut-out with a transparent background beside it
(``<OUT stem>_cutout.png``). OUT may be a folder (``<photo stem>_mask.png`` inside it); without OUT
both go to a fresh run folder (never beside the photo, where they could overwrite the user's files),
and the paths are printed. The photo is read upright (EXIF orientation applied), so the clicks are
pixel column,row of the photo as any viewer shows it. Uses the proposed model with the spec defaults
(or ``model=...``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from PIL import Image

from projects.variational_seg.markers import parse_points
from projects.variational_seg.methods import segmenter_for
from projects.variational_seg.pipeline import set_threads, working_size
from shared.config import plain_dict
from shared.datasets.io import read_image
from shared.errors import ConfigError, DataError
from shared.predict import drop_unused_run_folder

MIN_SIDE = 8  # pixels per side, of the photo and of its working-size copy (the solver needs a 2-D grid)


def cutout(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGBA: the photo with alpha 255 on the mask and 0 elsewhere."""
    return np.dstack([image, np.where(mask, 255, 0).astype(np.uint8)])


def check_size(image: np.ndarray, max_side: int) -> None:
    """A photo too small (or too elongated) to segment is a DataError naming its size."""
    h, w = image.shape[:2]
    wh, ww = working_size(h, w, max_side)
    if min(h, w) < MIN_SIDE:
        raise DataError(f"the image is {w}x{h} pixels (width x height); select needs at least "
                        f"{MIN_SIDE}x{MIN_SIDE}")
    if min(wh, ww) < MIN_SIDE:
        raise DataError(f"the image is {w}x{h} pixels: at the solver's working size (long side {max_side}) it "
                        f"would be {ww}x{wh}; select needs at least {MIN_SIDE} pixels per side (crop it first)")


def select_mask(image: np.ndarray, points_text: str | None, cfg: DictConfig) -> np.ndarray:
    points = parse_points(points_text, image.shape[1], image.shape[0])
    bg_text = cfg.get("bg_points")  # BG_POINTS: background clicks (used by wbh_colour and the anchors)
    background = parse_points(bg_text, image.shape[1], image.shape[0]) if bg_text else None
    if cfg.model.kind not in ("variational", "anchor"):
        raise ConfigError("select uses a variational model (wbh_colour, wbh, tv, rci, ...) or an anchor, not the U-Net")
    check_size(image, int(cfg.working.max_side))
    run_model = segmenter_for(plain_dict(cfg.model), cfg.data, int(cfg.working.max_side), int(cfg.markers.radius))
    return run_model([image], [points], [background])[0].prob > 0.5


def mask_path(cfg: DictConfig) -> Path:
    """OUT, or ``<photo stem>_mask.png`` inside OUT when it is a folder, else inside the run folder."""
    name = Path(cfg.image).stem + "_mask.png"
    out = cfg.get("output")
    if not out:
        return Path(cfg.paths.output_dir) / name
    if Path(out).is_dir() or str(out).endswith(("/", os.sep)):
        return Path(out) / name
    return Path(out)


def run(cfg: DictConfig) -> Path:
    if not cfg.get("image"):
        raise ConfigError('select needs an image: make select IMAGE=photo.jpg POINTS="x,y;x,y" OUT=mask.png')
    set_threads(cfg.working)
    image = read_image(cfg.image)
    mask = select_mask(image, cfg.get("points"), cfg)
    out = mask_path(cfg)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(out)
    cut = out.with_name(out.stem + "_cutout.png")
    Image.fromarray(cutout(image, mask), mode="RGBA").save(cut)
    drop_unused_run_folder(cfg)
    print(f"mask ({mask.mean() * 100:.1f}% of the image) -> {out}; cut-out -> {cut}")
    return out


def predict_unsupported(cfg: DictConfig) -> None:
    """``make predict PROJECT=variational_seg``: this project segments one photo from its clicks."""
    raise ConfigError('variational_seg has no folder predict: it segments one photo from your clicks, with '
                      'make select IMAGE=photo.jpg POINTS="x,y;x,y" [OUT=mask.png]')
