"""Reading images and masks with one clear error per bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from shared.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def read_image(path: str | Path) -> np.ndarray:
    """RGB uint8 HxWx3; DataError naming the file if it is missing, not an image, or truncated."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc


def read_mask(path: str | Path, num_classes: int | None = None, ignore_index: int = 255) -> np.ndarray:
    """Single-channel uint8 label map; checks every value is a class index or the ignore value."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"mask file not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            mask = np.asarray(im if im.mode in ("L", "P", "I;16", "I") else im.convert("L"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot read mask {path}: {exc}") from exc
    if mask.ndim != 2:
        raise DataError(f"mask {path} must be single-channel, got shape {mask.shape}")
    if num_classes is not None:
        check_label_values(mask, num_classes, ignore_index, source=str(path))
    return mask.astype(np.uint8)


def check_label_values(labels: np.ndarray, num_classes: int, ignore_index: int | None = 255,
                       source: str = "labels") -> None:
    values = np.unique(labels)
    bad = values[(values >= num_classes) & (values != (ignore_index if ignore_index is not None else -1))]
    bad = np.concatenate([bad, values[values < 0]])
    if bad.size:
        raise DataError(f"{source}: label value(s) {bad.tolist()[:10]} outside the class range "
                        f"[0, {num_classes}) (ignore value: {ignore_index})")


def check_same_size(image: np.ndarray, mask: np.ndarray, image_path: str | Path, mask_path: str | Path) -> None:
    if image.shape[:2] != mask.shape[:2]:
        raise DataError(f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but its image {image_path} is "
                        f"{image.shape[1]}x{image.shape[0]} (width x height); they must match")


def require_dir(path: str | Path, what: str, hint: str = "") -> Path:
    """The folder must exist and hold at least one file."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{what} folder not found: {path}. {hint}".strip())
    if not any(path.iterdir()):
        raise DataError(f"{what} folder is empty: {path}. {hint}".strip())
    return path


def list_images(folder: str | Path) -> list[Path]:
    folder = require_dir(folder, "input")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    return files
