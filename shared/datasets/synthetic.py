"""Procedural e-commerce product photos, deterministic from (seed, index).

Every project uses this as its embedded default data and CI uses it at tiny sizes. One sample is a
product silhouette (one of several categories) filled with a colour and a texture, on a clean studio
background or a cluttered one, optionally carrying a logo/text patch. It comes with:

* ``image``  uint8 HxWx3
* ``mask``   uint8 HxW, 0 = background, 1 + category index on product pixels
* ``label``  the category index
* ``title``  an attribute-based product title ("red striped cotton t-shirt with logo")
* ``tags``   multi-hot float vector over :data:`TAGS`
* ``industry`` the level-1 group of the category (apparel / footwear / accessories)

Registered as dataset ``synthetic`` (:class:`SyntheticProducts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from torch.utils.data import Dataset

from shared.datasets.registry import DATASETS, SPLITS
from shared.errors import ConfigError

# Silhouettes in a unit box (x, y in [0, 1]); drawn as polygons or ellipses.
CATEGORIES: tuple[str, ...] = ("t-shirt", "trousers", "dress", "shoe", "handbag", "hat", "bottle", "watch")
INDUSTRY: dict[str, str] = {
    "t-shirt": "apparel",
    "trousers": "apparel",
    "dress": "apparel",
    "shoe": "footwear",
    "handbag": "accessories",
    "hat": "accessories",
    "bottle": "personal care",
    "watch": "accessories",
}
INDUSTRIES: tuple[str, ...] = ("apparel", "footwear", "accessories", "personal care")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 30, 40),
    "blue": (30, 60, 190),
    "green": (40, 150, 60),
    "black": (25, 25, 25),
    "yellow": (235, 200, 30),
    "pink": (235, 120, 170),
    "grey": (130, 130, 135),
    "brown": (120, 75, 40),
}
PATTERNS: tuple[str, ...] = ("plain", "striped", "dotted", "checked")
MATERIALS: tuple[str, ...] = ("cotton", "leather", "denim", "wool", "plastic")
TAGS: tuple[str, ...] = (
    *(f"colour:{c}" for c in COLOURS),
    *(f"pattern:{p}" for p in PATTERNS),
    "has_logo",
    "background:cluttered",
    "industry:apparel",
    "industry:footwear",
    "industry:accessories",
    "industry:personal care",
)

_POLYGONS: dict[str, list[tuple[float, float]]] = {
    "t-shirt": [(0.3, 0.1), (0.42, 0.16), (0.58, 0.16), (0.7, 0.1), (0.95, 0.3), (0.83, 0.42), (0.74, 0.35),
                (0.74, 0.92), (0.26, 0.92), (0.26, 0.35), (0.17, 0.42), (0.05, 0.3)],
    "trousers": [(0.28, 0.05), (0.72, 0.05), (0.8, 0.95), (0.57, 0.95), (0.5, 0.35), (0.43, 0.95), (0.2, 0.95)],
    "dress": [(0.38, 0.05), (0.62, 0.05), (0.6, 0.35), (0.88, 0.95), (0.12, 0.95), (0.4, 0.35)],
    "shoe": [(0.05, 0.45), (0.35, 0.45), (0.45, 0.6), (0.9, 0.68), (0.95, 0.85), (0.05, 0.85)],
    "handbag": [(0.15, 0.4), (0.85, 0.4), (0.92, 0.9), (0.08, 0.9)],
    "hat": [(0.3, 0.3), (0.7, 0.3), (0.75, 0.65), (0.95, 0.72), (0.95, 0.8), (0.05, 0.8), (0.05, 0.72),
            (0.25, 0.65)],
    "bottle": [(0.44, 0.05), (0.56, 0.05), (0.56, 0.25), (0.68, 0.35), (0.68, 0.95), (0.32, 0.95), (0.32, 0.35),
               (0.44, 0.25)],
}


@dataclass(frozen=True)
class SyntheticSpec:
    """What to draw; defaults give the few-thousand-image default run."""

    image_size: int = 96
    clutter_prob: float = 0.5
    logo_prob: float = 0.4
    min_scale: float = 0.55
    max_scale: float = 0.95


@dataclass
class SyntheticSample:
    image: np.ndarray
    mask: np.ndarray
    label: int
    title: str
    tags: np.ndarray
    industry: str
    colour: str
    pattern: str
    cluttered: bool
    has_logo: bool


def _texture(rng: np.random.Generator, size: int, colour: tuple[int, int, int], pattern: str) -> Image.Image:
    base = np.array(colour, dtype=np.float32)
    accent = np.clip(base * 0.45 + (255 - base) * 0.55 * rng.uniform(0.6, 1.0), 0, 255)
    yy, xx = np.mgrid[0:size, 0:size]
    period = max(3, int(size * rng.uniform(0.06, 0.12)))
    if pattern == "striped":
        sel = ((yy // period) % 2 == 0) if rng.random() < 0.5 else ((xx // period) % 2 == 0)
    elif pattern == "dotted":
        sel = ((yy % period - period / 2) ** 2 + (xx % period - period / 2) ** 2) < (period / 3.5) ** 2
    elif pattern == "checked":
        sel = ((yy // period) + (xx // period)) % 2 == 0
    else:
        sel = np.zeros((size, size), dtype=bool)
    tex = np.where(sel[..., None], accent, base)
    shade = 1.0 - 0.18 * (yy / size)[..., None]  # soft studio light from the top
    tex = np.clip(tex * shade + rng.normal(0, 4, tex.shape), 0, 255)
    return Image.fromarray(tex.astype(np.uint8))


def _background(rng: np.random.Generator, size: int, cluttered: bool) -> Image.Image:
    if not cluttered:
        level = rng.uniform(225, 252)
        grad = np.linspace(0, rng.uniform(-12, 12), size)[None, :, None]
        bg = np.clip(np.full((size, size, 3), level) + grad + rng.normal(0, 2, (size, size, 3)), 0, 255)
        return Image.fromarray(bg.astype(np.uint8))
    bg = Image.fromarray(rng.integers(60, 200, (1, 1, 3), dtype=np.uint8).repeat(size, 0).repeat(size, 1))
    draw = ImageDraw.Draw(bg)
    for _ in range(int(rng.integers(6, 14))):
        x0, y0 = rng.uniform(-0.2, 1.0, 2) * size
        w, h = rng.uniform(0.1, 0.5, 2) * size
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=fill)
        else:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=fill)
    arr = np.asarray(bg.filter(ImageFilter.GaussianBlur(radius=size / 96)), dtype=np.float32)
    return Image.fromarray(np.clip(arr + rng.normal(0, 6, arr.shape), 0, 255).astype(np.uint8))


def _silhouette(category: str, size: int, scale: float, cx: float, cy: float, angle: float) -> Image.Image:
    """Binary silhouette (mode 'L') of a category placed at (cx, cy) with the given scale/rotation."""
    sil = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(sil)
    c, s = math.cos(angle), math.sin(angle)

    def place(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out = []
        for x, y in points:
            dx, dy = (x - 0.5) * scale * size, (y - 0.5) * scale * size
            out.append((cx * size + c * dx - s * dy, cy * size + s * dx + c * dy))
        return out

    if category == "watch":
        ring = place([(0.5 + 0.22 * math.cos(t), 0.5 + 0.22 * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 32)])
        draw.polygon(ring, fill=255)
        draw.polygon(place([(0.42, 0.05), (0.58, 0.05), (0.58, 0.95), (0.42, 0.95)]), fill=255)
    else:
        draw.polygon(place(_POLYGONS[category]), fill=255)
        if category == "handbag":  # the strap
            draw.line(place([(0.3, 0.42), (0.35, 0.12), (0.65, 0.12), (0.7, 0.42)]), fill=255,
                      width=max(1, int(size * scale * 0.05)))
    return sil


def _logo(rng: np.random.Generator, image: Image.Image, sil: Image.Image) -> bool:
    """Stamp a small label with letters inside the product; returns False if it did not fit."""
    arr = np.asarray(sil) > 0
    ys, xs = np.nonzero(arr)
    if len(ys) < 20:
        return False
    size = image.size[0]
    w, h = max(6, int(size * 0.22)), max(4, int(size * 0.1))
    for _ in range(10):
        i = int(rng.integers(len(ys)))
        x0, y0 = int(xs[i]) - w // 2, int(ys[i]) - h // 2
        if x0 < 0 or y0 < 0 or x0 + w >= size or y0 + h >= size or not arr[y0 : y0 + h, x0 : x0 + w].all():
            continue
        draw = ImageDraw.Draw(image)
        draw.rectangle([x0, y0, x0 + w, y0 + h], fill=(245, 245, 240), outline=(20, 20, 20))
        letters = "".join(chr(int(c)) for c in rng.integers(65, 91, 3))
        draw.text((x0 + 2, y0 + max(0, h // 2 - 5)), letters, fill=(10, 10, 10))
        return True
    return False


def make_sample(seed: int, index: int, spec: SyntheticSpec = SyntheticSpec()) -> SyntheticSample:
    """Draw sample ``index`` of the stream ``seed``. Pure function of its arguments."""
    rng = np.random.default_rng([seed, index])
    size = spec.image_size
    label = int(rng.integers(len(CATEGORIES)))
    category = CATEGORIES[label]
    colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
    pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
    material = MATERIALS[int(rng.integers(len(MATERIALS)))]
    cluttered = bool(rng.random() < spec.clutter_prob)

    scale = rng.uniform(spec.min_scale, spec.max_scale)
    cx, cy = rng.uniform(0.5 - (1 - scale) / 2, 0.5 + (1 - scale) / 2, 2)
    sil = _silhouette(category, size, scale, cx, cy, rng.uniform(-0.25, 0.25))
    image = _background(rng, size, cluttered)
    image.paste(_texture(rng, size, COLOURS[colour], pattern), (0, 0), sil)
    has_logo = bool(rng.random() < spec.logo_prob) and _logo(rng, image, sil)

    mask = np.where(np.asarray(sil) > 127, label + 1, 0).astype(np.uint8)
    industry = INDUSTRY[category]
    title = " ".join(w for w in (colour, "" if pattern == "plain" else pattern, material, category) if w)
    if has_logo:
        title += " with logo"
    active = {f"colour:{colour}", f"pattern:{pattern}", f"industry:{industry}"}
    if has_logo:
        active.add("has_logo")
    if cluttered:
        active.add("background:cluttered")
    tags = np.array([t in active for t in TAGS], dtype=np.float32)
    return SyntheticSample(np.asarray(image, dtype=np.uint8).copy(), mask, label, title, tags, industry, colour,
                           pattern, cluttered, has_logo)


class SyntheticProducts(Dataset):
    """Generated on the fly: split s uses its own index range, so train/val/test never overlap."""

    classes = list(CATEGORIES)

    def __init__(self, split: str, size: int, seed: int = 0, spec: SyntheticSpec = SyntheticSpec()) -> None:
        if size <= 0:
            raise ConfigError(f"synthetic dataset size must be positive, got {size} for split {split!r}")
        self.size, self.seed, self.spec = size, seed, spec
        self.offset = SPLITS.index(split) * 1_000_000

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict[str, Any]:
        s = make_sample(self.seed, self.offset + index, self.spec)
        return {"image": s.image, "mask": s.mask, "label": s.label, "title": s.title, "tags": s.tags,
                "industry": s.industry, "id": f"synthetic-{self.seed}-{self.offset + index}"}


@DATASETS.register("synthetic")
def _synthetic(split: str, root: Path, sizes: dict[str, int] | None = None, seed: int = 0,
               image_size: int = 96, clutter_prob: float = 0.5, logo_prob: float = 0.4) -> SyntheticProducts:
    sizes = dict(sizes or {"train": 2400, "val": 400, "test": 400})
    spec = SyntheticSpec(image_size=image_size, clutter_prob=clutter_prob, logo_prob=logo_prob)
    return SyntheticProducts(split, sizes[split], seed, spec)
