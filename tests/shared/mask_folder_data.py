"""A tiny folder of a user's own segmentation photos (shared/datasets/mask_folder.py layout), for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ["background", "box", "ball"]
COLOURS = {1: (220, 40, 40), 2: (40, 60, 220)}


def photo_and_mask(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A grey noisy backdrop with a red box (class 1) and a blue disc (class 2) at random places."""
    image = np.clip(rng.normal(150, 12, (height, width, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((height, width), dtype=np.uint8)
    x, y = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
    mask[y:y + height // 3, x:x + width // 3] = 1
    cy, cx, r = int(rng.integers(r0 := height // 5, height - r0)), int(rng.integers(r0, width - r0)), r0
    yy, xx = np.mgrid[:height, :width]
    mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 2
    for label, colour in COLOURS.items():
        image[mask == label] = colour
    return image, mask


def make_mask_folder(root: Path, n: int = 10, unlabelled: int = 2, width: int = 32, height: int = 24,
                     suffixes: tuple[str, ...] = (".jpg", ".png", ".webp"), colours: bool = True,
                     seed: int = 0) -> Path:
    """``root/images`` (n photos, suffixes in turn), ``root/masks``, ``root/classes.txt``, ``root/unlabelled``."""
    rng = np.random.default_rng(seed)
    for folder in ("images", "masks", "unlabelled"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image, mask = photo_and_mask(rng, width, height)
        suffix = suffixes[i % len(suffixes)]
        options = {"quality": 95} if suffix in (".jpg", ".webp") else {}
        Image.fromarray(image).save(root / "images" / f"p{i:02d}{suffix}", **options)
        Image.fromarray(mask, mode="L").save(root / "masks" / f"p{i:02d}.png")
    for i in range(unlabelled):
        Image.fromarray(photo_and_mask(rng, width, height)[0]).save(root / "unlabelled" / f"u{i:02d}.jpg")
    lines = [f"{name} {' '.join(map(str, COLOURS[k]))}" if colours and k in COLOURS else name
             for k, name in enumerate(CLASSES)]
    (root / "classes.txt").write_text("\n".join(lines) + "\n")
    return root
