"""Reading images and masks with one clear error per bad file.

Every image and mask of the repository is read here (datasets, predict, audit, select), so that each
file is read as a viewer shows it, exactly once: the EXIF orientation is applied on read (a phone photo
tagged "rotate 90" is returned upright, and clicks, masks and sizes refer to that frame), 16-bit and
float samples are scaled to 0..255 (a 16-bit PNG is not clipped to white), and transparent pixels
are composited onto white (as a product page shows a cut-out).
"""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from shared.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # Pillow's 16-bit grey ("I": 32-bit container)
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
READ_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, TypeError, KeyError,
               Image.DecompressionBombError)
BACKGROUND = (255, 255, 255)
ORIENTATION_TAG = 0x0112  # EXIF orientations 5-8 turn the photo by 90 degrees: width and height swap


class ImageTooLargeError(DataError):
    """An image whose header announces more pixels than Pillow's decompression-bomb limit."""

    def __init__(self, message: str, pixels: int) -> None:
        super().__init__(message)
        self.pixels = pixels


def read_image(path: str | Path) -> np.ndarray:
    """RGB uint8 HxWx3, upright (EXIF orientation applied) and scaled from any bit depth; DataError
    naming the file if it is missing, a folder, not an image, or truncated."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder; expected one image file ({', '.join(IMAGE_SUFFIXES)})")
    if not path.is_file():
        raise DataError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            return to_rgb8(upright(im))
    except READ_ERRORS as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc


def read_image_bytes(data: bytes, name: str = "upload") -> np.ndarray:
    """:func:`read_image` for the bytes of an image file (an upload); DataError naming ``name``."""
    try:
        with Image.open(BytesIO(data)) as im:
            return to_rgb8(upright(im))
    except READ_ERRORS as exc:
        raise DataError(f"cannot read image {name}: {type(exc).__name__}") from exc


def image_size(source: str | Path | bytes) -> tuple[int, int]:
    """(width, height) of an image file (path or bytes) as shown (EXIF orientation applied), from its
    header only: nothing is decoded, so a huge photo can be refused before it costs memory (one past
    Pillow's decompression-bomb limit is an :class:`ImageTooLargeError` with its pixel count)."""
    name = "the upload" if isinstance(source, bytes) else str(source)
    try:
        with Image.open(BytesIO(source) if isinstance(source, bytes) else source) as im:
            width, height = im.size
            turned = im.getexif().get(ORIENTATION_TAG, 1) in (5, 6, 7, 8)
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else 0
        raise ImageTooLargeError(f"{name} is too large to read: {pixels / 1e6:.0f} megapixels (the limit is "
                                 f"{2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f})", pixels) from None
    except READ_ERRORS as exc:
        raise DataError(f"cannot read the image header of {name}: {type(exc).__name__}") from exc
    return (height, width) if turned else (width, height)


def upright(im: Image.Image) -> Image.Image:
    """The decoded image turned as its EXIF orientation tag says (the tag is then dropped)."""
    im.load()
    ImageOps.exif_transpose(im, in_place=True)  # in place: no copy of a 24-MP photo that needs no turn
    return im


def to_rgb8(im: Image.Image) -> np.ndarray:
    """RGB uint8: 16-bit grey scaled by 255/65535 (Pillow already reduces 16-bit RGB(A) to 8 bits),
    float in [0, 1] scaled by 255 (else clipped to 0..255), transparency composited onto white."""
    if im.mode in SIXTEEN_BIT_MODES:
        grey = np.clip(np.asarray(im), 0, 65535).astype(np.uint32)
        im = Image.fromarray(((grey * 255 + 32767) // 65535).astype(np.uint8), mode="L")
    elif im.mode == "F":
        values = np.nan_to_num(np.asarray(im, dtype=np.float32))
        scale = 255.0 if values.size and values.max() <= 1.0 else 1.0
        im = Image.fromarray(np.clip(np.rint(values * scale), 0, 255).astype(np.uint8), mode="L")
    if im.mode in ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        composite = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        composite.alpha_composite(rgba)
        im = composite
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def read_mask(path: str | Path, num_classes: int | None = None, ignore_index: int = 255) -> np.ndarray:
    """Single-channel uint8 label map; checks every value is a class index or the ignore value."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"mask file not found: {path}")
    try:
        with Image.open(path) as im:
            im = upright(im)  # a mask is in the frame of its (upright) image
            mask = np.asarray(im if im.mode in ("L", "P", "I;16", "I") else im.convert("L"))
    except READ_ERRORS as exc:
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
    if path.exists() and not path.is_dir():
        raise DataError(f"{what}: expected a folder, but {path} is a file. {hint}".strip())
    if not path.is_dir():
        raise DataError(f"{what} folder not found: {path}. {hint}".strip())
    if not any(path.iterdir()):
        raise DataError(f"{what} folder is empty: {path}. {hint}".strip())
    return path


def list_images(folder: str | Path) -> list[Path]:
    """The image files under ``folder`` (sorted; a DataError when there is none)."""
    return list_inputs(folder)[0]


def list_inputs(folder: str | Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(image files, [(other file, why it is not read)]) under ``folder``, both sorted: every file is
    either an image to read or named with its reason (a GIF, HEIC or AVIF is not skipped without a word).
    A DataError when there is no image file."""
    folder = require_dir(folder, "input")
    images, others = [], []
    for path in sorted(p for p in folder.rglob("*") if not p.is_dir()):
        reason = unsupported_reason(path)
        if reason is None:
            images.append(path)
        else:
            others.append((path, reason))
    if not images:
        found = f" (found {len(others)} other files, e.g. {others[0][0].name})" if others else ""
        raise DataError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {folder}{found}")
    return images, others


def unsupported_reason(path: Path) -> str | None:
    """Why ``path`` is not read as a photo (not a regular file, another format), or None if it is read."""
    if not path.is_file():
        return "not a regular file (a pipe, a socket, or a broken or looping link)"
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        kind = f"{path.suffix.lower()} is not" if path.suffix else "a file without extension is not"
        return f"{kind} a photo format read here ({', '.join(IMAGE_SUFFIXES)}); convert it to JPEG or PNG"
    return None
