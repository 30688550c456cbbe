"""The extent net's training objects (``extent_net``, ``scripts/train_extent.py``). Never GrabCut: that is what
the click model is measured on. Two sources under the data root:

* ``ccp/``: each labelled photo's subject (``mask > 0``) and every garment / body-part region of it (one label's
  8-connected component covering more than ``MIN_PART`` of the photo) as separate objects;
* ``fashion_products/``: catalogue products cut from their white background (``product_mask``) and pasted, at a
  random size and place, on a CCP or ``clothing_small`` photo (``paste``), so that an object stands on clutter.

Each photo goes through the frozen encoder once; an example keeps its maps (float16) and each object's mask on a
grid 4x finer than the stride-8 map (float16 coverage, from which the training clicks and targets come).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor

from shared.datasets.io import read_image, read_mask
from shared.errors import DataError

MIN_PART = 0.01       # a CCP region smaller than this share of the photo is not an object of its own
WHITE = 235           # a catalogue background pixel: every channel above this
FINE = 4              # the object masks' grid, x the stride-8 map's


@dataclass
class Example:
    maps: list[Tensor]        # the encoder's maps (C_i, h_i, w_i), float16, finest first
    objects: list[Tensor]     # each object's coverage on the FINE x finer grid, float16


def ccp_objects(labels: np.ndarray) -> list[np.ndarray]:
    """The subject and each label's components covering more than MIN_PART of the photo (bool masks)."""
    found = [labels > 0]
    for value in np.unique(labels[labels > 0]):
        parts, count = ndimage.label(labels == value, structure=np.ones((3, 3), dtype=bool))
        sizes = np.bincount(parts.ravel(), minlength=count + 1)[1:] / parts.size
        found += [parts == k for k, share in enumerate(sizes, start=1) if share > MIN_PART]
    return found


def product_mask(rgb: np.ndarray) -> np.ndarray | None:
    """A catalogue photo's product: the pixels not in a near-white region touching the border, holes filled,
    the largest component; None when nothing is left."""
    white, _ = ndimage.label(rgb.min(2) > WHITE)
    edge = np.unique(np.concatenate([white[0], white[-1], white[:, 0], white[:, -1]]))
    solid = ndimage.binary_fill_holes(~np.isin(white, edge[edge > 0]))
    parts, count = ndimage.label(solid)
    if count == 0:
        return None
    sizes = ndimage.sum(solid, parts, range(1, count + 1))
    return parts == 1 + int(np.argmax(sizes))


def paste(product: np.ndarray, mask: np.ndarray, back: np.ndarray,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(photo, mask): the product's box scaled to cover 5-50 % of ``back`` (at most its size), placed at random,
    its edge softened over a pixel (a hard cut-out edge would be a give-away no real photo has)."""
    rows, cols = np.nonzero(mask)
    box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    product, mask = product[box], mask[box]
    h, w = back.shape[:2]
    scale = np.sqrt(rng.uniform(0.05, 0.5) * h * w / mask.size)
    scale = min(scale, (h - 1) / mask.shape[0], (w - 1) / mask.shape[1])
    ph, pw = max(1, int(mask.shape[0] * scale)), max(1, int(mask.shape[1] * scale))
    product = cv2.resize(product, (pw, ph), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    alpha = cv2.GaussianBlur(cv2.resize(mask.astype(np.float32), (pw, ph), interpolation=cv2.INTER_LINEAR), (3, 3), 0)
    top, left = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
    photo = back.astype(np.float32)
    where = (slice(top, top + ph), slice(left, left + pw))
    photo[where] = alpha[..., None] * product + (1.0 - alpha[..., None]) * photo[where]
    full = np.zeros((h, w), dtype=bool)
    full[where] = alpha > 0.5
    return photo.clip(0, 255).astype(np.uint8), full


def example(encoder: Callable[[np.ndarray], list[Tensor]], photo: np.ndarray, objects: list[np.ndarray]) -> Example:
    maps = encoder(photo)
    h, w = maps[0].shape[-2:]
    fine = [F.interpolate(torch.from_numpy(m.astype(np.float32))[None, None], size=(FINE * h, FINE * w),
                          mode="area")[0, 0].half() for m in objects]
    return Example([m[0].half() for m in maps], fine)


def ccp_examples(root: Path, encoder: Callable[[np.ndarray], list[Tensor]], limit: int) -> Iterator[Example]:
    for path in sorted((root / "ccp" / "masks").glob("*.png"))[:limit]:
        labels = read_mask(path)
        if labels.max() == 0:          # masks/0536.png is empty upstream
            continue
        yield example(encoder, read_image(root / "ccp" / "images" / f"{path.stem}.jpg"), ccp_objects(labels))


def backgrounds(root: Path) -> list[Path]:
    return sorted((root / "ccp" / "images").glob("*.jpg")) + sorted((root / "clothing_small" / "train").glob("*/*.jpg"))


def product_examples(root: Path, encoder: Callable[[np.ndarray], list[Tensor]], limit: int,
                     rng: np.random.Generator) -> Iterator[Example]:
    backs = backgrounds(root)
    for path in sorted((root / "fashion_products" / "images").glob("*.jpg"))[:limit]:
        product = read_image(path)
        mask = product_mask(product)
        if mask is None or not 0.05 < mask.mean() < 0.9:   # no product found, or no background around it
            continue
        photo, pasted = paste(product, mask, read_image(backs[int(rng.integers(len(backs)))]), rng)
        yield example(encoder, photo, [pasted])


def build_examples(root: Path, encoder: Callable[[np.ndarray], list[Tensor]], ccp: int, products: int,
                   seed: int) -> list[Example]:
    """The first ``ccp`` CCP photos' objects and the first ``products`` catalogue products pasted (seeded)."""
    if ccp > 0 and not (root / "ccp" / "masks").is_dir():
        raise DataError(f"{root / 'ccp' / 'masks'}: not found; the extent net trains on CCP (README, Data), "
                        "or give --ccp 0")
    if products > 0 and not (root / "fashion_products" / "images").is_dir():
        raise DataError(f"{root / 'fashion_products' / 'images'}: not found; give --products 0 to train on CCP alone")
    found = list(ccp_examples(root, encoder, ccp)) if ccp > 0 else []
    if products > 0:
        if not backgrounds(root):
            raise DataError(f"no background photos under {root / 'ccp' / 'images'} or {root / 'clothing_small'}")
        found += list(product_examples(root, encoder, products, np.random.default_rng(seed)))
    if not any(e.objects for e in found):
        raise DataError(f"no training object under {root} (CCP masks / catalogue products)")
    return found


def deep_click(coverage: np.ndarray, rng: np.random.Generator) -> tuple[float, float] | None:
    """A training click on the stride-8 grid: a random fine-grid pixel whose depth in the object (distance to
    its boundary, the border counting) is at least a random 50-100 % of the deepest one's, as the protocol's
    first click (the deepest point) and a user's (somewhere well inside) are."""
    picked = deep_pixel(coverage > 0.5, rng)
    if picked is None:
        return None
    return (picked[0] + 0.5) / FINE - 0.5, (picked[1] + 0.5) / FINE - 0.5


def deep_pixel(region: np.ndarray, rng: np.random.Generator) -> tuple[int, int] | None:
    """(row, col) of a random pixel of ``region`` whose depth in it (distance to its boundary, the border
    counting) is at least a random 50-100 % of the deepest one's; None for an empty region."""
    depth = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    if depth.max() <= 0:
        return None
    rows, cols = np.nonzero(depth >= rng.uniform(0.5, 1.0) * depth.max())
    k = int(rng.integers(len(rows)))
    return int(rows[k]), int(cols[k])


def corrective_click(target: np.ndarray, mask: np.ndarray,
                     rng: np.random.Generator) -> tuple[float, float, bool] | None:
    """The protocol's next click on a grid, for the history net's training: in the larger of the missed
    (``target`` and not ``mask``) and the false (``mask`` and not ``target``) regions, a random pixel whose depth
    in it is at least a random 50-100 % of the deepest one's (``deep_pixel``, as ``deep_click``);
    (row, col, positive) or None where the mask has no error."""
    missed, false = target & ~mask, mask & ~target
    region, positive = (missed, True) if missed.sum() >= false.sum() else (false, False)
    picked = deep_pixel(region, rng)
    return None if picked is None else (float(picked[0]), float(picked[1]), positive)
