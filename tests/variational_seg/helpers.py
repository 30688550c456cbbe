"""Tiny synthetic scenes shared by the variational_seg tests."""

from __future__ import annotations

import numpy as np
import torch


def disk(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2


def scene(size: int = 64, distractor: bool = False, seed: int = 0, noise: float = 0.05) -> tuple[np.ndarray, ...]:
    """Grey image (H, W) in [0, 1] with a dark target disk (and optionally a look-alike), the target mask."""
    target = disk(size, size, 0.42 * size, 0.36 * size, 0.22 * size)
    image = np.full((size, size), 0.8)
    image[target] = 0.3
    other = disk(size, size, 0.68 * size, 0.76 * size, 0.14 * size) if distractor else np.zeros_like(target)
    image[other] = 0.3
    image = image + noise * np.random.default_rng(seed).standard_normal(image.shape)
    return image, target, other


def as_batch(image: np.ndarray, points: list[tuple[int, int]], dtype=torch.float32) -> tuple[torch.Tensor, ...]:
    x = torch.as_tensor(image, dtype=dtype)[None, None]
    m = torch.zeros(1, *image.shape, dtype=torch.bool)
    for r, c in points:
        m[0, r, c] = True
    return x, m


def dsc(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def params_for(model: str, overrides: dict | None = None):
    """SolverParams of configs/variational_seg/model/<model>.yaml ``params`` with ``overrides`` on top
    (no data, so no tuned values): what the old ``params.params_for`` preset lookup gave."""
    from projects.variational_seg.methods import model_config
    from projects.variational_seg.params import solver_params

    return solver_params({**(model_config(model).get("params") or {}), **(overrides or {})})
