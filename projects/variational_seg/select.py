"""``make select IMAGE=photo.jpg POINTS="x,y;x,y" OUT=mask.png``: segment your own photo from a few clicks.

Writes the binary mask (0/255 PNG) to OUT and a cut-out with a transparent background beside it
(``<OUT stem>_cutout.png``). OUT may be a folder (``<photo stem>_mask.png`` inside it); without OUT
both go to a fresh run folder (never beside the photo, where they could overwrite the user's files),
and the paths are printed. The photo is read upright (EXIF orientation applied), so the clicks are
pixel column,row of the photo as any viewer shows it. The clicks go to the model one at a time (POINTS
first, then BG_POINTS, so a background click wins where the two overlap), each with the mask of the
clicks before it, as the page does (``click_model.ClickSession``); the Makefile's model is the shipped
``wbh_colour_extent_later_ensemble`` (a learned first click, three nets averaged; the cut-out fitted to the photo's
edges at full resolution),
``model=...`` another.

Both files are written atomically (a temporary file, then a rename): an OUT that is a symbolic link
is replaced by the new file, its target is never written through. The mask is saved losslessly only
(a JPEG would turn the 0/255 mask into dozens of grey levels): OUT must end in one of MASK_SUFFIXES.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig
from PIL import Image

from projects.variational_seg.click_model import ClickSession, click_segmenter_for, is_incremental, ordered_clicks
from projects.variational_seg.markers import parse_points, points_to_mask, scale_points
from projects.variational_seg.params import marker_radius
from projects.variational_seg.pipeline import set_threads, working_size
from shared.config import plain_dict
from shared.datasets.io import read_image
from shared.errors import ConfigError, DataError
from shared.files import write_atomic
from shared.predict import drop_unused_run_folder

# Pixels per side, of the photo and of its working-size copy: below 16 the colour model has too few
# pixels outside the marker disks to fit (8x8 and 10x10 photos made its covariance singular).
MIN_SIDE = 16
# What is left unclicked at the working size: the background colour model needs pixels to fit.
MIN_BACKGROUND_FRACTION = 0.02
PointsInput = str | Sequence[Any] | None   # "x,y;x,y" or [(x, y), ...] (markers.parse_points)
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")   # lossless formats Pillow writes
# Failures of the numerical solvers on degenerate input (a flat photo, clicks everywhere).
SOLVER_ERRORS = (np.linalg.LinAlgError, ZeroDivisionError, FloatingPointError, ValueError, RuntimeError)


def cutout(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGBA: the photo with alpha 255 on the mask and 0 elsewhere."""
    return np.dstack([image, np.where(mask, 255, 0).astype(np.uint8)])


def check_size(image: np.ndarray, max_side: int, what: str = "select") -> None:
    """A photo too small (or too elongated) to segment is a DataError naming its size."""
    h, w = image.shape[:2]
    check_dimensions(w, h, max_side, what)


def check_dimensions(width: int, height: int, max_side: int, what: str = "select") -> None:
    """:func:`check_size` from the (width, height) alone (the page checks an upload's header)."""
    wh, ww = working_size(height, width, max_side)
    if min(height, width) < MIN_SIDE:
        raise DataError(f"the image is {width}x{height} pixels (width x height); {what} needs at least "
                        f"{MIN_SIDE}x{MIN_SIDE}")
    if min(wh, ww) < MIN_SIDE:
        raise DataError(f"the image is {width}x{height} pixels: at the solver's working size (long side {max_side}) "
                        f"it would be {ww}x{wh}; {what} needs at least {MIN_SIDE} pixels per side (crop it first)")


def check_clicks_leave_background(points: np.ndarray, shape: tuple[int, int], max_side: int, radius: int) -> None:
    """Foreground clicks whose marker disks cover (almost) the whole photo leave the model no
    background to learn from: a DataError saying so (the colour model divided by zero before)."""
    size = working_size(*shape, max_side)
    covered = points_to_mask(scale_points(points, shape, size), size, radius)
    if 1.0 - covered.mean() < MIN_BACKGROUND_FRACTION:
        raise DataError(f"the {len(points)} foreground clicks cover {covered.mean() * 100:.0f}% of the photo at the "
                        f"working size; leave some background unclicked (click only inside the product)")


def run_segmenter(segment, *args):
    """``segment(*args)``, with a numerical failure on a degenerate photo as one DataError."""
    try:
        return segment(*args)
    except SOLVER_ERRORS as exc:
        raise DataError(f"the model could not separate the clicked product from the rest of this photo "
                        f"({type(exc).__name__}): click only inside the product and leave some background "
                        f"unclicked, or use a larger photo") from None


def select_mask(image: np.ndarray, points: PointsInput, cfg: DictConfig, background: PointsInput = None,
                order: Sequence[str] | None = None, previous: np.ndarray | None = None,
                names: tuple[str, str] = ("POINTS", "BG_POINTS")) -> np.ndarray:
    """The mask for foreground ``points`` and ``background`` points (else ``cfg.bg_points``), text
    ``"x,y;x,y"`` or [(x, y), ...]: the clicks in ``order`` ('fg' / 'bg' per click; None: foreground first)
    through the configured model one at a time, each with the previous mask (``click_model.ClickSession``);
    ``previous``: the mask (or probability) before the last click, so only the last click is solved;
    ``names``: what the messages call the two point sets."""
    h, w = image.shape[:2]
    fg = parse_points(points, w, h, names[0])
    bg = parse_points(cfg.get("bg_points") if background is None else background, w, h, names[1], required=False)
    if cfg.model.kind not in ("variational", "anchor", "click_model"):
        raise ConfigError("select uses a variational model (wbh_colour_fullres, wbh_colour, wbh, ...) or an anchor, "
                          "not the U-Net")
    max_side = int(cfg.working.max_side)
    check_size(image, max_side)
    check_clicks_leave_background(fg, image.shape[:2], max_side, marker_radius(cfg.model, int(cfg.markers.radius)))
    model = plain_dict(cfg.model)
    segment = click_segmenter_for(model, plain_dict(cfg.data), max_side, int(cfg.markers.radius))
    clicks = ordered_clicks(fg, bg, order)
    if previous is not None:
        return run_segmenter(segment, image, clicks, np.asarray(previous, dtype=np.float32)) > 0.5
    return run_segmenter(ClickSession(segment, is_incremental(model)).update, image, clicks) > 0.5


def mask_path(cfg: DictConfig) -> Path:
    """OUT, or ``<photo stem>_mask.png`` inside OUT when it is a folder, else inside the run folder;
    a ConfigError for an OUT file without a lossless image extension."""
    name = Path(cfg.image).stem + "_mask.png"
    out = cfg.get("output")
    if not out:
        return Path(cfg.paths.output_dir) / name
    if Path(out).is_dir() or str(out).endswith(("/", os.sep)):
        return Path(out) / name
    suffix = Path(out).suffix.lower()
    if not suffix:
        raise ConfigError(f"OUT={out} has no file extension: name the mask file ending in .png (or pass a "
                          f"folder ending in /)")
    if suffix not in MASK_SUFFIXES:
        raise ConfigError(f"OUT={out}: {suffix} is not a lossless format, the 0/255 mask would be saved with "
                          f"grey levels; end OUT in {' or '.join(MASK_SUFFIXES)}")
    return Path(out)


def save_image(array: np.ndarray, path: Path, mode: str) -> None:
    """Atomically (a link at ``path`` is replaced, not written through), in the format of its extension."""
    fmt = Image.registered_extensions()[path.suffix.lower()]
    write_atomic(path, lambda f: Image.fromarray(array, mode=mode).save(f, format=fmt), binary=True)


def run(cfg: DictConfig) -> Path:
    if not cfg.get("image"):
        raise ConfigError('select needs an image: make select IMAGE=photo.jpg POINTS="x,y;x,y" OUT=mask.png')
    set_threads(cfg.working)
    out = mask_path(cfg)   # a wrong OUT is refused before the solve
    image = read_image(cfg.image)
    mask = select_mask(image, cfg.get("points"), cfg)
    save_image(np.where(mask, 255, 0).astype(np.uint8), out, "L")
    cut = out.with_name(out.stem + "_cutout.png")
    save_image(cutout(image, mask), cut, "RGBA")
    drop_unused_run_folder(cfg)
    print(f"mask ({mask.mean() * 100:.1f}% of the image) -> {out}; cut-out -> {cut}")
    return out


def predict_unsupported(cfg: DictConfig) -> None:
    """``make predict PROJECT=variational_seg``: this project segments one photo from its clicks."""
    raise ConfigError('variational_seg has no folder predict: it segments one photo from your clicks, with '
                      'make select IMAGE=photo.jpg POINTS="x,y;x,y" [OUT=mask.png]')
