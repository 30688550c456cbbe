"""variational_seg on the GPU: batched ADMM solves of 256 x 256 images (images/s), and the DSC of the
same images equal to the CPU solve's (same images, clicks and tuned ``wbh`` parameters)."""

from __future__ import annotations

import time
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.gpu.scale import Scale
from benchmarks.gpu.timing import synchronize
from benchmarks.gpu.trainer import bench_device
from projects.variational_seg.data import build_dataset
from projects.variational_seg.markers import points_to_mask, scale_points
from projects.variational_seg.methods import model_config
from projects.variational_seg.params import resolve_params
from projects.variational_seg.pipeline import image_tensor
from projects.variational_seg.protocol import ground_truth
from projects.variational_seg.seg_metrics import dice
from projects.variational_seg.solver import solve
from shared.config import compose

DSC_TOLERANCE = 0.005  # per image: float order differs on the GPU, which may move the stopping step by one


def square_batch(samples: list[dict[str, Any]], size: int) -> tuple[torch.Tensor, torch.Tensor, list[np.ndarray]]:
    """Images area-resized to size^2, their clicks scaled alike, ground truth resized by nearest."""
    images, markers, truths = [], [], []
    for s in samples:
        images.append(F.interpolate(image_tensor(s["image"]), size=(size, size), mode="area"))
        points = scale_points(s["points"], s["image"].shape[:2], (size, size))
        markers.append(torch.from_numpy(points_to_mask(points, (size, size)))[None])
        fg, _ = ground_truth(s)
        truths.append(cv2.resize(fg.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0)
    return torch.cat(images), torch.cat(markers), truths


def timed_solve(x: torch.Tensor, m: torch.Tensor, params: Any, device: torch.device) -> tuple[np.ndarray, float]:
    x, m = x.to(device), m.to(device)
    solve(x, m, params, diagnostics=False)  # warm-up (kernels, FFT plans)
    synchronize(device)
    start = time.perf_counter()
    w, _, _ = solve(x, m, params, diagnostics=False)
    synchronize(device)
    return (w > 0.5).cpu().numpy(), time.perf_counter() - start


def variational_fields(scale: Scale) -> dict[str, Any]:
    cfg = compose("variational_seg", [])
    dataset = build_dataset(cfg.data, cfg.markers, cfg.seed, split="test")
    samples = [dataset[i % len(dataset)] for i in range(scale.var_batch)]
    x, m, truths = square_batch(samples, scale.var_size)
    params = resolve_params(model_config("wbh"), cfg.data)
    device = bench_device()
    cpu_masks, cpu_s = timed_solve(x, m, params, torch.device("cpu"))
    dev_masks, dev_s = timed_solve(x, m, params, device)
    cpu_dsc = np.array([dice(p, t) for p, t in zip(cpu_masks, truths)])
    dev_dsc = np.array([dice(p, t) for p, t in zip(dev_masks, truths)])
    diff = float(np.abs(cpu_dsc - dev_dsc).max())
    prefix = "variational_batched_256"
    return {
        f"{prefix}_batch": len(samples), f"{prefix}_side": scale.var_size,
        f"{prefix}_imgs_per_s": round(len(samples) / dev_s, 2),
        f"{prefix}_cpu_imgs_per_s": round(len(samples) / cpu_s, 2),
        f"{prefix}_dsc_device": round(float(dev_dsc.mean()), 4),
        f"{prefix}_dsc_cpu": round(float(cpu_dsc.mean()), 4),
        f"{prefix}_dsc_max_abs_diff": round(diff, 5), f"{prefix}_dsc_equal": diff <= DSC_TOLERANCE,
        f"{prefix}_target_imgs_per_s_min": 200,
    }
