"""GrabCut interactive-segmentation benchmark (50 images) with two sets of user scribbles: ``grabcut``.

Source: ``<data root>/grabcut/`` (see its SOURCE.md). Masks: 0 background, 255 foreground, 128 the
"unknown" band along the boundary; here ``mask`` is 0 / 1 with 255 on the band (ignored when
scoring). Scribble maps: 0 unmarked, 1 foreground stroke, 2 background stroke.

GrabCut has no training images. Splits: a fixed, seeded ``val`` subset of 10 images (for tuning the
models' parameters) and ``test`` = the other 40 (the reported numbers); ``all`` = the 50 (figures,
benchmark). ``train`` fails on purpose: nothing may be trained on the evaluation images.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from shared.datasets.io import check_same_size, read_image, read_mask, require_dir
from shared.datasets.registry import DATASETS
from shared.errors import ConfigError, DataError

FOLDER = "grabcut"
HINT = "Put the GrabCut copy at <data root>/grabcut (see README, Data) or set ECOMVISION_DATA."
NUM_VAL = 10
SPLIT_SEED = 0


def grabcut_names(folder: Path) -> list[str]:
    names = sorted(p.stem for p in (folder / "images").iterdir() if p.suffix.lower() in (".jpg", ".png"))
    if not names:
        raise DataError(f"no images under {folder / 'images'}. {HINT}")
    return names


def split_names(names: list[str], split: str, num_val: int = NUM_VAL, seed: int = SPLIT_SEED) -> list[str]:
    """Seeded permutation of the sorted names: the first ``num_val`` are val, the rest test."""
    if split == "all":
        return list(names)
    if split == "train":
        raise ConfigError("grabcut has no train split: it is an evaluation set (use split val for tuning, "
                          "test for reporting)")
    if split not in ("val", "test"):
        raise ConfigError(f"grabcut split must be val, test or all, got {split!r}")
    order = sorted(names)
    random.Random(seed).shuffle(order)
    chosen = set(order[:num_val]) if split == "val" else set(order[num_val:])
    return [n for n in names if n in chosen]


class GrabCut(Dataset):
    """Samples ``{"image", "mask", "scribbles_set1", "scribbles_set2", "id"}``."""

    def __init__(self, split: str, root: Path, subset: str | None = None, limit: int | None = None) -> None:
        self.folder = require_dir(root / FOLDER, "grabcut", HINT)
        self.names = split_names(grabcut_names(self.folder), subset or split)
        if limit:
            self.names = self.names[:limit]

    def __len__(self) -> int:
        return len(self.names)

    def _image_path(self, name: str) -> Path:
        for suffix in (".jpg", ".png"):
            path = self.folder / "images" / f"{name}{suffix}"
            if path.is_file():
                return path
        raise DataError(f"image file not found: {self.folder / 'images' / name}.jpg/.png")

    def __getitem__(self, index: int) -> dict[str, Any]:
        name = self.names[index]
        image_path, mask_path = self._image_path(name), self.folder / "masks" / f"{name}.png"
        image, raw = read_image(image_path), read_mask(mask_path)
        check_same_size(image, raw, image_path, mask_path)
        bad = np.setdiff1d(np.unique(raw), [0, 128, 255])
        if bad.size:
            raise DataError(f"{mask_path}: unexpected mask values {bad.tolist()} (expected 0, 128, 255)")
        mask = np.where(raw == 255, 1, np.where(raw == 128, 255, 0)).astype(np.uint8)
        sample: dict[str, Any] = {"image": image, "mask": mask, "id": name}
        for key in ("set1", "set2"):
            path = self.folder / "scribbles" / key / f"{name}.png"
            if path.is_file():
                scribbles = read_mask(path)
                check_same_size(image, scribbles, image_path, path)
                sample[f"scribbles_{key}"] = scribbles
        return sample


@DATASETS.register("grabcut")
def _grabcut(split: str, root: Path, subset: str | None = None, limit: int | None = None) -> GrabCut:
    return GrabCut(split, root, subset=subset, limit=limit)
