"""From photos and marker points at their own resolution to masks at that resolution.

Resize so the long side is at most ``max_side`` (area interpolation; the model's balance of length
and area terms depends on resolution, so parameters are tuned at this fixed working size), scale the
markers, solve a batch per distinct image size, upsample ``w`` bilinearly and threshold at 0.5.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from projects.variational_seg.markers import points_to_mask, scale_points
from projects.variational_seg.params import SolverParams
from projects.variational_seg.solver import solve


@dataclass
class Segmentation:
    prob: np.ndarray          # w upsampled to the image size, float32 in [0, 1]
    iterations: int
    seconds: float            # wall time of the batch divided by its size (incl. D_G and weights)
    markers_used: int         # marker pixels at working resolution
    undecided: float


def set_threads(working: Any) -> None:
    """Apply ``working.threads`` when configured: torch's, OpenCV's, and the BLAS / OpenMP pools that numpy and
    scipy load (threadpoolctl), whose idle workers otherwise spin and count as CPU time of every click."""
    threads = (working or {}).get("threads")
    if threads:
        torch.set_num_threads(int(threads))
        cv2.setNumThreads(int(threads))
        threadpool_limits(limits=int(threads))


def working_size(h: int, w: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (or float on the 0-255 scale) HxW or HxWxC -> float (1, C, H, W) in [0, 1]."""
    arr = image[..., None] if image.ndim == 2 else image
    return torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1)[None].float() / 255.0


def area_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downscale HxW[xC] to ``size`` = (h, w) by pixel-area averaging (OpenCV's INTER_AREA: exact
    fractional pixel weights), in float32 on the 0-255 scale; faster on the CPU than torch's
    ``interpolate(mode="area")``, which averages whole-pixel windows."""
    out = cv2.resize(image.astype(np.float32, copy=False), (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return out[..., None] if image.ndim == 3 and out.ndim == 2 else out


def to_working(image: np.ndarray, points: np.ndarray, max_side: int,
               marker_radius: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, C, h, w) image and (1, h, w) bool markers at working resolution."""
    h, w = image.shape[:2]
    size = working_size(h, w, max_side)
    x = image_tensor(area_resize(image, size) if size != (h, w) else image)
    pts = scale_points(points, (h, w), size)
    return x, torch.from_numpy(points_to_mask(pts, size, marker_radius))[None]


def upsample(w: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(h, w) -> size, bilinear with align_corners=False."""
    if tuple(w.shape[-2:]) != tuple(size):
        w = F.interpolate(w[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    return w.float().cpu().numpy()


def segment(images: list[np.ndarray], points: list[np.ndarray], params: SolverParams, max_side: int = 320,
            device: str | torch.device = "cpu", marker_radius: int = 0) -> list[Segmentation]:
    """Segment each image from its (row, col) points; images of the same size share one batch."""
    if len(images) != len(points):
        raise ValueError(f"{len(images)} images but {len(points)} marker sets")
    out: list[Segmentation | None] = [None] * len(images)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, image in enumerate(images):
        if len(points[i]) == 0:
            raise ValueError(f"image {i} has no marker points")
        groups.setdefault(image.shape, []).append(i)
    for idx in groups.values():
        start = time.perf_counter()
        pairs = [to_working(images[i], points[i], max_side, marker_radius) for i in idx]
        x = torch.cat([p[0] for p in pairs]).to(device)
        m = torch.cat([p[1] for p in pairs]).to(device)
        w, iters, log = solve(x, m, _select(params, idx), diagnostics=False)
        probs = [upsample(w[j], images[i].shape[:2]) for j, i in enumerate(idx)]
        seconds = (time.perf_counter() - start) / len(idx)
        for j, i in enumerate(idx):
            out[i] = Segmentation(probs[j], int(iters[j]), seconds, int(m[j].sum()),
                                  float(log["undecided_fraction"][j]))
    return out  # type: ignore[return-value]


def _select(params: SolverParams, idx: list[int]) -> SolverParams:
    """Per-sample parameter sequences (one value per image of the whole call) -> the group's values."""
    changes = {}
    for name in ("alpha0", "beta0", "lam", "theta"):
        value = getattr(params, name)
        if not isinstance(value, int | float):
            changes[name] = [value[i] for i in idx]
    return params.with_(**changes) if changes else params
