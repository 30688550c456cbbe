"""``make predict PROJECT=semiseg CKPT=... INPUT=folder/ [OUT=folder/]``: a class-index mask and a
colour overlay per image, plus ``predictions.csv`` (unreadable files are listed with their reason).

The EMA teacher stored in the checkpoint is used when there is one (that is the model UniMatch V2
and MvpMatch report), else the student. Every image is prepared as the test split is in training, with
the numbers the checkpoint carries (shared/inference.py: long side to ``size``, zero padding at the
bottom/right, ``mean`` / ``std``), never with today's config; the padding is cut from the logits and
they are resized back to the original size.

Output names keep the input's relative path and extension (``sub/a.jpg`` -> ``masks/sub/a.jpg.png``,
``overlays/sub/a.jpg.jpg``), so that ``a.jpg``, ``a.png`` and ``sub/a.jpg`` never overwrite each other.
The images are streamed: each is decoded, segmented, written and dropped before the next is read.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from PIL import Image
from torch import nn

from projects.semiseg.module import SemiSegModule
from projects.semiseg.transforms import eval_view
from shared.checkpoints import check_checkpoint, load_module
from shared.files import write_csv_atomic
from shared.inference import InferenceSpec, spec_of
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


def palette(n: int) -> np.ndarray:
    """A fixed colour per class (0 = black background)."""
    rng = np.random.default_rng(12345)
    colours = rng.integers(40, 256, size=(max(n, 1), 3), dtype=np.uint8)
    colours[0] = 0
    return colours


def load_for_inference(ckpt: Path) -> tuple[SemiSegModule, nn.Module, InferenceSpec]:
    """The module as it was trained (its model config unchanged: the encoder's input adapter is rebuilt and
    its numbers checked by the strict load; no pretrained file is read again), the model to run and the
    checkpoint's inference spec."""
    state = check_checkpoint(ckpt, SemiSegModule)
    spec = spec_of(state, ckpt)
    module = load_module(SemiSegModule, ckpt).eval()
    teacher_state = next((v["teacher"] for k, v in state.get("callbacks", {}).items()
                          if k.startswith("EMATeacher") and v.get("teacher")), None)
    if teacher_state is None:
        return module, module.net, spec
    teacher = copy.deepcopy(module.net)
    teacher.load_state_dict(teacher_state)
    return module, teacher.eval(), spec


@torch.no_grad()
def predict_mask(model: nn.Module, image: np.ndarray, spec: InferenceSpec) -> np.ndarray:
    """The class-index mask (HxW) of one RGB photo: the test split's view of it (``eval_view`` with the
    checkpoint's size and normalisation), the padding cut from the logits, resized back bilinearly."""
    h, w = image.shape[:2]
    x = eval_view(spec.size, spec.mean, spec.std)(image=image, mask=np.zeros((h, w), dtype=np.uint8))["image"][None]
    logits = model(x)
    scale = spec.size / max(h, w)
    valid = logits[:, :, : round(h * scale), : round(w * scale)]       # drop the padding (top-left layout)
    return F.interpolate(valid, size=(h, w), mode="bilinear", align_corners=False).argmax(1)[0].numpy()


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
    module, model, spec = load_for_inference(ckpt)
    root, out = Path(cfg.input), output_folder(cfg, "predictions")
    colours = palette(len(spec.names))
    thumbs: list[tuple[str, np.ndarray]] = []

    def segment_and_save(path: Path, image: np.ndarray) -> list:
        mask = predict_mask(model, image, spec).astype(np.uint8)
        mask_name = Path("masks") / output_name(path, root, ".png")
        overlay_name = Path("overlays") / output_name(path, root, ".jpg")
        for name in (mask_name, overlay_name):
            (out / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask, mode="L").save(out / mask_name)
        blended = overlay(image, mask, colours)
        Image.fromarray(blended).save(out / overlay_name, quality=90)
        if len(thumbs) < SHEET_IMAGES:
            thumbs.append((output_name(path, root, "").as_posix(), thumbnail(blended)))
        present = [spec.names[i] for i in np.unique(mask) if i < len(spec.names)]
        return [str(path), mask_name.as_posix(), ";".join(present), ""]

    items = list(stream_images(files, segment_and_save))
    rows = [item.value for item in items if not item.error]
    failed = [[str(item.path), "", "", item.error] for item in items if item.error]
    write_csv_atomic(out / "predictions.csv", ["file", "mask", "classes", "error"], rows + failed)
    if thumbs:
        overlay_sheet(thumbs, list(spec.names), colours, out / "overlays.png")
    drop_unused_run_folder(cfg)
    print(f"{len(rows)} images segmented, {len(failed)} unreadable -> {out}")
    return out
