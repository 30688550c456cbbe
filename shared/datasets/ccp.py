"""Clothing Co-Parsing (CCP) for semi-supervised segmentation: dataset ``ccp`` and preparer ``ccp``.

Source: ``<data root>/ccp/`` (see its SOURCE.md): 2,098 street-fashion photos, of which the
pixel-labelled ones have ``masks/NNNN.png`` (59 labels, 0 = ``null`` background) and 1,094 have
image-level tags only.

``make data DATASET=ccp`` writes, under ``splits/ccp/`` at the repo root (seed 0 by default):

* ``split.csv``: every usable pixel-labelled photo with its split, 70 / 10 / 20 train / val / test
  (the empty mask ``0536`` is dropped). Val is for model selection and the historical queue's
  "best" decisions; test is only for reporting.
* ``<ratio>/labeled.txt`` and ``<ratio>/unlabeled.txt`` for ratio 1_64, 1_16, 1_4, 1_2 of
  labelled-train: one seeded permutation of the train ids, the labelled set is its first
  ``round(ratio * n)`` ids, so 1/64 is inside 1/16 inside 1/4 inside 1/2. Unlabelled = the tag-only
  photos + the labelled-train photos outside the labelled subset (their masks are never read).
* ``classes_full.txt`` (the 59 upstream labels), ``classes_coarse.txt`` and ``coarse_map.csv``
  (the coarse mapping below), ``counts.json`` (images per split / ratio, pixels per coarse class).

Coarse classes (default, ``classes=coarse``), 9 of them:

====  =============  ============================================================================
  0   background     null
  1   skin           skin
  2   hair           hair
  3   upper          blazer blouse bra cape cardigan coat hoodie intimate jacket shirt sweater
                     sweatshirt t-shirt top vest
  4   lower          jeans leggings panties pants shorts skirt stockings tights
  5   full-body      bodysuit dress jumper romper suit swimwear
  6   footwear       boots clogs flats heels loafers pumps sandals shoes sneakers socks wedges
  7   bag            bag purse wallet
  8   accessory      accessories belt bracelet earrings glasses gloves hat necklace ring scarf
                     sunglasses tie watch
====  =============  ============================================================================

``classes=full`` keeps the 59 upstream labels (several never or rarely occur; see SOURCE.md).
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from shared.datasets.io import (
    check_label_values,
    check_same_size,
    image_size,
    read_image,
    read_mask,
    require_dir,
)
from shared.datasets.label_ratio import RATIOS, normalise_ratio
from shared.datasets.prepare import PREPARERS, write_split_file
from shared.datasets.registry import DATASETS
from shared.errors import ConfigError, DataError
from shared.paths import SPLITS_ROOT

FOLDER = "ccp"
SPLIT_DIR = SPLITS_ROOT / "ccp"
EMPTY_MASKS = ("0536",)
HINT = "Put the CCP copy at <data root>/ccp (see README, Data) or set ECOMVISION_DATA."

COARSE: dict[str, list[str]] = {
    "background": ["null"],
    "skin": ["skin"],
    "hair": ["hair"],
    "upper": ["blazer", "blouse", "bra", "cape", "cardigan", "coat", "hoodie", "intimate", "jacket", "shirt",
              "sweater", "sweatshirt", "t-shirt", "top", "vest"],
    "lower": ["jeans", "leggings", "panties", "pants", "shorts", "skirt", "stockings", "tights"],
    "full-body": ["bodysuit", "dress", "jumper", "romper", "suit", "swimwear"],
    "footwear": ["boots", "clogs", "flats", "heels", "loafers", "pumps", "sandals", "shoes", "sneakers", "socks",
                 "wedges"],
    "bag": ["bag", "purse", "wallet"],
    "accessory": ["accessories", "belt", "bracelet", "earrings", "glasses", "gloves", "hat", "necklace", "ring",
                  "scarf", "sunglasses", "tie", "watch"],
}


def read_full_classes(folder: Path) -> list[str]:
    path = folder / "classes.csv"
    if not path.is_file():
        raise DataError(f"class table not found: {path}. {HINT}")
    with path.open(newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["index"]))
    return [r["name"] for r in rows]


def coarse_lut(full: list[str]) -> np.ndarray:
    """256-entry lookup: full label index -> coarse index; 255 stays 255 (ignore)."""
    to_coarse = {name: i for i, members in enumerate(COARSE.values()) for name in members}
    missing = [n for n in full if n not in to_coarse]
    if missing:
        raise DataError(f"CCP labels without a coarse class: {missing}")
    lut = np.full(256, 255, dtype=np.uint8)
    for i, name in enumerate(full):
        lut[i] = to_coarse[name]
    return lut


def _read_ids(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"split file not found: {path}; run `make data DATASET=ccp`")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _split_ids(split: str) -> list[str]:
    path = SPLIT_DIR / "split.csv"
    if not path.is_file():
        raise DataError(f"split file not found: {path}; run `make data DATASET=ccp`")
    with path.open(newline="") as f:
        return [r["id"] for r in csv.DictReader(f) if r["split"] == split]


class CCP(Dataset):
    """Samples ``{"image", "mask", "id"}`` (labelled) or ``{"image", "id"}`` (``part="unlabeled"``).

    ``diagnostic_masks=True`` (unlabelled part only) adds ``"mask"`` to the unlabelled photos that have
    one (the labelled-train photos outside the labelled subset; all 255 for the image-level-only photos),
    so training can log how right its pseudo-labels are; no loss reads it."""

    def __init__(self, split: str, root: Path, part: str = "all", ratio: str = "1_16",
                 classes: str = "coarse", diagnostic_masks: bool = False) -> None:
        if part not in ("all", "labeled", "unlabeled"):
            raise ConfigError(f"ccp part must be all, labeled or unlabeled, got {part!r}")
        if classes not in ("coarse", "full"):
            raise ConfigError(f"ccp classes must be 'coarse' or 'full', got {classes!r}")
        ratio = normalise_ratio(ratio)
        if part != "all" and ratio not in RATIOS:
            raise ConfigError(f"ccp label ratio {ratio!r} has no committed split; choose one of {RATIOS}")
        self.folder = require_dir(root / FOLDER, "ccp", HINT)
        full = read_full_classes(self.folder)
        self.lut = coarse_lut(full) if classes == "coarse" else None
        self.classes = list(COARSE) if classes == "coarse" else full
        self.num_full = len(full)
        self.with_masks = part != "unlabeled"
        self.diagnostic_masks = bool(diagnostic_masks) and part == "unlabeled"
        if part == "all":
            self.ids = _split_ids(split)
        else:
            if split != "train":
                raise ConfigError(f"ccp part={part!r} exists only for the train split, not {split!r}")
            self.ids = _read_ids(SPLIT_DIR / ratio / f"{part}.txt")
        if not self.ids:
            raise ConfigError(f"ccp {split}/{part} at ratio {ratio} lists zero images")
        if self.with_masks:
            check_masks(self.folder, self.ids, self.num_full, what=f"{split}/{part}")

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_id = self.ids[index]
        image_path = self.folder / "images" / f"{image_id}.jpg"
        image = read_image(image_path)
        mask_path = self.folder / "masks" / f"{image_id}.png"
        if self.diagnostic_masks and not mask_path.is_file():
            return {"image": image, "mask": np.full(image.shape[:2], 255, dtype=np.uint8), "id": image_id}
        if not self.with_masks and not self.diagnostic_masks:
            return {"image": image, "id": image_id}
        mask = read_mask(mask_path, num_classes=self.num_full)
        check_same_size(image, mask, image_path, mask_path)
        if self.lut is not None:
            mask = self.lut[mask]
        return {"image": image, "mask": mask, "id": image_id}


# (mask path, mask mtime, image mtime, classes) of the pairs already checked in this process: the
# datamodule builds the same split more than once (prepare_data, setup), each pair is read once.
_CHECKED: set[tuple[str, int, int, int]] = set()
def check_mask_file(image_path: Path, mask_path: Path, num_classes: int) -> None:
    """One photo/mask pair: both readable, same size, every label a class index or 255 (ignore).

    Reads the image header and decodes the mask once (its 256-bin histogram for L/P masks)."""
    if not image_path.is_file():
        raise DataError(f"image file not found: {image_path}")
    if not mask_path.is_file():
        raise DataError(f"mask file not found: {mask_path}")
    width, height = image_size(image_path)  # header only, as shown (EXIF orientation applied)
    try:
        with Image.open(mask_path) as im:
            size, mode = im.size, im.mode
            counts = np.asarray(im.histogram()) if mode in ("L", "P") else None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot read {image_path} or its mask {mask_path}: {exc}") from exc
    if counts is None:  # 16-bit or RGB mask: the reader's own checks (channels, values)
        read_mask(mask_path, num_classes=num_classes)
    else:
        check_label_values(np.flatnonzero(counts), num_classes, 255, source=f"mask {mask_path}")
    if size != (width, height):
        raise DataError(f"mask {mask_path} is {size[0]}x{size[1]} but its image {image_path} is "
                        f"{width}x{height} (width x height); they must match")


def check_masks(folder: Path, ids: list[str], num_classes: int, what: str) -> None:
    """Every listed pair is checked before training starts (a bad test mask would otherwise crash the
    run after the whole fit); one DataError names the first bad pair and how many there are."""
    bad: list[str] = []
    for image_id in ids:
        image_path, mask_path = folder / "images" / f"{image_id}.jpg", folder / "masks" / f"{image_id}.png"
        try:
            key = (str(mask_path), mask_path.stat().st_mtime_ns, image_path.stat().st_mtime_ns, num_classes)
        except OSError:
            key = None
        if key in _CHECKED:
            continue
        try:
            check_mask_file(image_path, mask_path, num_classes)
        except DataError as exc:
            bad.append(str(exc))
            continue
        if key is not None:
            _CHECKED.add(key)
    if bad:
        more = f" ({len(bad) - 1} more bad pair(s) in ccp {what})" if len(bad) > 1 else ""
        raise DataError(f"{bad[0]}{more}. Fix or replace the file(s), or re-run `make data DATASET=ccp`")


@DATASETS.register("ccp")
def _ccp(split: str, root: Path, part: str = "all", ratio: str = "1_16", classes: str = "coarse",
         diagnostic_masks: bool = False) -> CCP:
    return CCP(split, root, part=part, ratio=ratio, classes=classes, diagnostic_masks=diagnostic_masks)


@PREPARERS.register("ccp")
def prepare_ccp(root: Path, seed: int = 0, val_percent: int = 10, test_percent: int = 20,
                out_dir: Path = SPLIT_DIR) -> dict:
    """Seeded 70/10/20 split of the pixel-labelled photos + nested label-ratio subsets (see module doc)."""
    folder = require_dir(root / FOLDER, "ccp", HINT)
    tags = folder / "image_tags.csv"
    if not tags.is_file():
        raise DataError(f"image list not found: {tags}. {HINT}")
    with tags.open(newline="") as f:
        rows = list(csv.DictReader(f))
    labelled = sorted(r["image"] for r in rows if r["annotation"] == "pixel" and r["image"] not in EMPTY_MASKS)
    tag_only = sorted(r["image"] for r in rows if r["annotation"] == "image")
    for image_id in labelled:
        if not (folder / "masks" / f"{image_id}.png").is_file():
            raise DataError(f"mask file not found: {folder / 'masks' / f'{image_id}.png'}")
    rng = random.Random(seed)
    order = labelled[:]
    rng.shuffle(order)
    n_test, n_val = round(len(order) * test_percent / 100), round(len(order) * val_percent / 100)
    split_of = {i: "test" for i in order[:n_test]}
    split_of.update({i: "val" for i in order[n_test:n_test + n_val]})
    train = [i for i in order[n_test + n_val:]]
    split_of.update({i: "train" for i in train})

    write_split_file(out_dir / "split.csv", ([i, split_of[i]] for i in labelled), header=["id", "split"])
    full = read_full_classes(folder)
    write_split_file(out_dir / "classes_full.txt", full)
    write_split_file(out_dir / "classes_coarse.txt", list(COARSE))
    lut = coarse_lut(full)
    coarse_rows = [[i, n, int(lut[i]), list(COARSE)[lut[i]]] for i, n in enumerate(full)]
    write_split_file(out_dir / "coarse_map.csv", coarse_rows,
                     header=["full_index", "full_name", "coarse_index", "coarse_name"])

    train_order = train[:]  # already a seeded permutation: prefixes give nested subsets
    counts: dict[str, Any] = {"seed": seed, "total": len(labelled), "tag_only": len(tag_only),
                              "dropped_empty_masks": list(EMPTY_MASKS),
                              **{s: {"images": sum(v == s for v in split_of.values())}
                                 for s in ("train", "val", "test")},
                              "ratios": {}}
    for ratio in RATIOS:
        num, den = (int(x) for x in ratio.split("_"))
        n = max(1, round(len(train_order) * num / den))
        labeled = sorted(train_order[:n])
        unlabeled = sorted(train_order[n:]) + tag_only
        write_split_file(out_dir / ratio / "labeled.txt", labeled)
        write_split_file(out_dir / ratio / "unlabeled.txt", unlabeled)
        counts["ratios"][ratio] = {"labeled": len(labeled), "unlabeled": len(unlabeled)}
    counts["coarse_pixels"] = _coarse_pixel_counts(folder, labelled, split_of, lut)
    write_split_file(out_dir / "counts.json", counts)
    return counts


def _coarse_pixel_counts(folder: Path, ids: list[str], split_of: dict[str, str], lut: np.ndarray) -> dict:
    """Pixels per coarse class and split (a quick check of the mapping and class balance)."""
    names = list(COARSE)
    totals = {s: np.zeros(len(names), dtype=np.int64) for s in ("train", "val", "test")}
    for image_id in ids:
        mask = lut[read_mask(folder / "masks" / f"{image_id}.png")]
        totals[split_of[image_id]] += np.bincount(mask.ravel(), minlength=256)[: len(names)]
    return {s: dict(zip(names, v.tolist())) for s, v in totals.items()}
