"""``make predict PROJECT=semiseg CKPT=... INPUT=folder/ [OUT=folder/]``: a class-index mask and a
colour overlay per image, plus ``predictions.csv`` (unreadable files are listed with their reason).

The masks come from :class:`projects.semiseg.api.Predictor` (the Python API): for a checkpoint the EMA
teacher when there is one (the model UniMatch V2 and MvpMatch report), else the student, on the test split's
view of the photo with the numbers the checkpoint carries (shared/inference.py: long side to ``size``, zero
padding at the bottom/right, ``mean`` / ``std``), never today's config; ``CKPT=model.onnx`` runs an export
(``make export``) the same way. The padding is cut from the logits and they are resized back to the photo.

Output names keep the input's relative path and extension (``sub/a.jpg`` -> ``masks/sub/a.jpg.png``,
``overlays/sub/a.jpg.jpg``), so that ``a.jpg``, ``a.png`` and ``sub/a.jpg`` never overwrite each other.
The images are streamed: each is decoded, segmented, written and dropped before the next is read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from PIL import Image

from projects.semiseg.api import Predictor
from shared.export import is_onnx
from shared.files import write_csv_atomic
from shared.plots import plt
from shared.predict import (
    drop_unused_run_folder,
    output_folder,
    output_name,
    require_checkpoint,
    require_input_folder,
    stream_images,
)

SHEET_IMAGES = 12
SHEET_THUMB = 192     # long side of each thumbnail on the sheet (px)


def palette(n: int, given: list | None = None) -> np.ndarray:
    """A fixed colour per class (0 = black background); ``given`` (a folder's classes.txt colours, carried by
    the checkpoint) replaces them where it names one."""
    rng = np.random.default_rng(12345)
    colours = rng.integers(40, 256, size=(max(n, 1), 3), dtype=np.uint8)
    colours[0] = 0
    for i, colour in enumerate((given or [])[:n]):
        if colour is not None:
            colours[i] = colour
    return colours


def overlay(image: np.ndarray, mask: np.ndarray, colours: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    coloured = colours[mask]
    blend = image.astype(np.float32) * (1 - alpha) + coloured.astype(np.float32) * alpha
    return np.where(mask[..., None] > 0, blend, image).astype(np.uint8)


def thumbnail(image: np.ndarray, side: int = SHEET_THUMB) -> np.ndarray:
    pil = Image.fromarray(image)
    pil.thumbnail((side, side))
    return np.asarray(pil)


def overlay_sheet(thumbs: list[tuple[str, np.ndarray]], class_names: list[str], colours: np.ndarray,
                  path: Path, cols: int = 4) -> Path:
    """The overlays on one page, titled with their file names, with a legend of the class colours."""
    rows = max(1, -(-len(thumbs) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, image) in zip(axes.flat, thumbs):
        ax.imshow(image)
        ax.set_title(name, fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[i] / 255) for i in range(1, len(class_names))]
    fig.legend(handles, class_names[1:], loc="lower center", ncol=min(8, len(handles)), fontsize=8,
               frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(cfg: DictConfig) -> Path:
    ckpt = require_checkpoint(cfg)
    files = require_input_folder(cfg)
    predictor = Predictor.from_onnx(ckpt) if is_onnx(ckpt) else Predictor.from_checkpoint(ckpt)
    spec = predictor.spec
    root, out = Path(cfg.input), output_folder(cfg, "predictions")
    colours = palette(len(spec.names), spec.extra.get("colours"))
    thumbs: list[tuple[str, np.ndarray]] = []

    def segment_and_save(path: Path, image: np.ndarray) -> list:
        mask = predictor.segment(image)
        mask_name = Path("masks") / output_name(path, root, ".png")
        overlay_name = Path("overlays") / output_name(path, root, ".jpg")
        for name in (mask_name, overlay_name):
            (out / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask, mode="L").save(out / mask_name)
        blended = overlay(image, mask, colours)
        Image.fromarray(blended).save(out / overlay_name, quality=90)
        if len(thumbs) < SHEET_IMAGES:
            thumbs.append((output_name(path, root, "").as_posix(), thumbnail(blended)))
        return [str(path), mask_name.as_posix(), ";".join(predictor.result(mask)["classes"]), ""]

    items = list(stream_images(files, segment_and_save))
    rows = [item.value for item in items if not item.error]
    failed = [[str(item.path), "", "", item.error] for item in items if item.error]
    write_csv_atomic(out / "predictions.csv", ["file", "mask", "classes", "error"], rows + failed)
    if thumbs:
        overlay_sheet(thumbs, list(spec.names), colours, out / "overlays.png")
    drop_unused_run_folder(cfg)
    print(f"{len(rows)} images segmented, {len(failed)} unreadable -> {out}")
    return out
