"""UniMatch V2's training views, CPU-sized: one geometric pipeline shared by every view of an image,
photometric strong views, one CutMix box per strong view, and a fixed-size eval view.

Geometric: resize the long side to ``base_size`` (so full-size photos become CPU-sized), random
rescale in ``scale`` x, pad to the crop (image 0, mask 255 labelled / 254 unlabelled, so padding
can be told from the dataset's own 255), random crop, horizontal flip. Every pipeline is re-seeded
per sample from the sampler's seed, so a sample's views depend only on (seed, epoch, position).
"""

from __future__ import annotations

import math

import albumentations as A
import cv2
import numpy as np
import torch
from albumentations.pytorch import ToTensorV2

from shared.augment import IMAGENET_MEAN, IMAGENET_STD

PAD_LABELED, PAD_UNLABELED = 255, 254


def geometric(crop: int, base_size: int | None, scale: tuple[float, float], pad_mask: int) -> A.Compose:
    ops: list = [A.LongestMaxSize(max_size=base_size)] if base_size else []
    ops += [
        A.RandomScale(scale_limit=(scale[0] - 1.0, scale[1] - 1.0), p=1.0),
        A.PadIfNeeded(min_height=crop, min_width=crop, position="top_left", border_mode=cv2.BORDER_CONSTANT,
                      fill=0, fill_mask=pad_mask),
        A.RandomCrop(height=crop, width=crop),
        A.HorizontalFlip(p=0.5),
    ]
    return A.Compose(ops)


def normalize() -> A.Compose:
    return A.Compose([A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD), ToTensorV2()])


def eval_view(size: int, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> A.Compose:
    """Long side to ``size``, pad to a square (mask 255 = ignored), normalise (a checkpoint's spec gives
    ``size``, ``mean`` and ``std`` at predict time: the numbers this view used in training)."""
    return A.Compose([A.LongestMaxSize(max_size=size),
                      A.PadIfNeeded(min_height=size, min_width=size, position="top_left",
                                    border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=255),
                      A.Normalize(mean=tuple(mean), std=tuple(std)), ToTensorV2()])


def cutmix_box(size: int, rng: np.random.Generator, p: float = 0.5, area: tuple[float, float] = (0.02, 0.4),
               ratio: tuple[float, float] = (0.3, 1 / 0.3)) -> torch.Tensor:
    """A (size, size) bool box: with probability p one rectangle of area ~U(area) x size^2 and aspect
    ratio ~U(ratio), its position drawn until it fits (UniMatch's CutMix box)."""
    box = torch.zeros(size, size, dtype=torch.bool)
    if rng.random() > p:
        return box
    target = rng.uniform(*area) * size * size
    while True:
        r = rng.uniform(*ratio)
        w, h = int(math.sqrt(target / r)), int(math.sqrt(target * r))
        x, y = int(rng.integers(0, size + 1)), int(rng.integers(0, size + 1))
        if x + w <= size and y + h <= size:
            break
    box[y:y + h, x:x + w] = True
    return box
