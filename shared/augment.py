"""Albumentations 2.x pipelines shared by every project: ``eval``, ``weak`` and ``strong``.

* ``eval``: resize to the working size, normalise.
* ``weak``: random resized crop + horizontal flip (the geometric view all projects train on).
* ``strong``: the weak view plus photometric perturbation (colour jitter, grey, blur), as the
  strong view of FixMatch/UniMatch-style training. Masks follow the geometric ops only.
``photometric_strong`` is the photometric part alone, for code that already holds a weak view.

Training loaders reset a pipeline to a per-sample seed from :class:`shared.datasets.sampler.SeededSampler`
before each call (:func:`shared.datasets.transformed.seeded`), so what a sample draws depends on (seed,
epoch, position) only, not on the worker; ``seed`` here seeds direct calls.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
from albumentations.pytorch import ToTensorV2

from shared.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KINDS = ("eval", "weak", "strong")


def photometric_strong(p: float = 1.0) -> A.Compose:
    return A.Compose([
        A.ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.25, p=0.8 * p),
        A.ToGray(p=0.2 * p),
        A.GaussianBlur(blur_limit=(3, 7), sigma_limit=(0.1, 2.0), p=0.5 * p),
    ])


def build_transforms(kind: str, size: int | Sequence[int], mean: Sequence[float] = IMAGENET_MEAN,
                     std: Sequence[float] = IMAGENET_STD, scale: tuple[float, float] = (0.5, 1.0),
                     normalize: bool = True, to_tensor: bool = True, seed: int | None = None) -> A.Compose:
    """A pipeline for images (and, through ``mask=``/``masks=``, per-pixel label maps)."""
    if kind not in KINDS:
        raise ConfigError(f"unknown augmentation kind {kind!r}; expected one of {KINDS}")
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if kind == "eval":
        ops: list = [A.Resize(height=h, width=w)]
    else:
        ops = [A.RandomResizedCrop(size=(h, w), scale=scale), A.HorizontalFlip(p=0.5)]
        if kind == "strong":
            ops.append(photometric_strong())
    if normalize:
        ops.append(A.Normalize(mean=mean, std=std))
    if to_tensor:
        ops.append(ToTensorV2())
    return A.Compose(ops, seed=seed)
