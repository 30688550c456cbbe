"""The bench's time per click on large photos (issue 29, the full-resolution cut-out):
``s_per_click_1mp_<m>`` and ``s_per_click_12mp_<m>`` for the methods of ``bench.cutout_models``, and the first
click's alone, ``s_first_click_<size>_<m>`` (where the extent net's encoder pass falls).

A GrabCut photo and its mask are enlarged (OpenCV bicubic / nearest) to ``bench.cutout_sizes`` (1 and 12
megapixels, 4:3: rows, columns); the
field's click simulator places ``bench.cutout_clicks`` clicks on it, one at a time, as in the NoC protocol,
and each method gets them through ``click_model.click_segmenter_for`` (the click order and its previous
mask for the click model). The time is the process CPU time of the method call per click (resize to the
working size, solve, cut-out at full resolution; 1 thread), as ``s_per_click_<m>`` of the NoC protocol,
after one untimed click per model (one-off set-up: OpenCV's colour tables, torch's first calls) by another
instance of it, so that per-photo work (an encoder pass) is in the timed clicks. The clicks run
``bench.cutout_repeats`` times (a fresh instance each; the models take turns, one run each per round) and each key
is the median over those runs.
"""

from __future__ import annotations

import time
from typing import Any

import cv2
import numpy as np
from omegaconf import DictConfig

from projects.variational_seg.click_model import click_segmenter_for
from projects.variational_seg.methods import model_config, model_kind
from projects.variational_seg.noc import ClickSegmenter, run_clicks
from projects.variational_seg.noc_eval import unet_click_segmenter
from projects.variational_seg.protocol import ground_truth
from shared.config import plain_dict
from shared.datasets.registry import dataset_from_config
from shared.errors import ConfigError


def enlarged(image: np.ndarray, gt: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The photo (bicubic) and its object mask (nearest) at ``size`` = (height, width)."""
    photo = cv2.resize(image, size[::-1], interpolation=cv2.INTER_CUBIC)
    mask = cv2.resize(gt.astype(np.uint8), size[::-1], interpolation=cv2.INTER_NEAREST).astype(bool)
    return photo, mask


def cutout_keys(cfg: DictConfig, unet: tuple[Any, str] | None = None) -> dict[str, Any]:
    """``s_per_click_<size>_<m>`` for every model of ``bench.cutout_models`` and size of ``bench.cutout_sizes``;
    ``unet``: (module, checkpoint) of the trained U-Net (``bench.trained_unet``) for a U-Net among them (it gets the
    clicks' positions, as in the NoC protocol)."""
    clicks, repeats = int(cfg.bench.cutout_clicks), int(cfg.bench.get("cutout_repeats", 1))
    if clicks < 1 or repeats < 1:
        raise ConfigError(f"bench.cutout_clicks and bench.cutout_repeats must be at least 1, got {clicks} and "
                          f"{repeats}; give bench.cutout_models=[] to skip the cut-out keys")
    unets = [str(name) for name in cfg.bench.cutout_models if model_kind(str(name)) == "unet"]
    if unets and unet is None:
        raise ConfigError(f"bench.cutout_models names a U-Net ({', '.join(unets)}) but no trained one is here: give "
                          "bench.unet_ckpt=<its last.ckpt> or train it (make sweep PROJECT=variational_seg "
                          "SWEEP=unet_seeds)")
    models = {str(name): {"kind": "unet"} if str(name) in unets else model_config(str(name))
              for name in cfg.bench.cutout_models}
    data = plain_dict(cfg.data)
    dataset = dataset_from_config(cfg.data, str(cfg.data.split), subset="test")
    sample = dataset[0]
    gt, _ = ground_truth(sample)
    max_side, radius = int(cfg.working.max_side), int(cfg.markers.radius)
    out: dict[str, Any] = {}
    sizes = {str(tag): (int(hw[0]), int(hw[1])) for tag, hw in cfg.bench.cutout_sizes.items()}

    def segmenter(model: dict[str, Any]) -> ClickSegmenter:   # a fresh instance: nothing kept from another run
        if model.get("kind") == "unet" and unet is not None:
            return unet_click_segmenter(unet[0], model)
        return click_segmenter_for(model, data, max_side, radius)

    for tag, size in sizes.items():
        photo, mask = enlarged(sample["image"], gt, size)
        if tag == next(iter(sizes)):   # untimed warm-up per model: OpenCV's Lab tables, torch's first FFT plans
            for model in models.values():
                run_clicks(segmenter(model), photo, mask, None, 1)
        means: dict[str, list[float]] = {name: [] for name in models}
        firsts: dict[str, list[float]] = {name: [] for name in models}
        ious: dict[str, float] = {}
        for _ in range(repeats):
            # the models take turns, one run each per round: the VM's speed drifts by a quarter within minutes, and
            # a model's runs in a row would all land in one phase of it
            for name, model in models.items():
                # a fresh instance for the timed clicks: what a model keeps per photo (the extent net's encoder
                # maps) is paid for inside them, as on a new photo
                run = run_clicks(segmenter(model), photo, mask, None, clicks)
                seconds = [s for s in run.cpu_seconds if s is not None]
                means[name].append(float(np.mean(seconds)))
                firsts[name].append(float(seconds[0]))   # per-photo work (an encoder) lands here
                ious[name] = run.ious[-1]
        for name in models:   # the median over the runs
            out[f"s_per_click_{tag}_{name}"] = round(float(np.median(means[name])), 4)
            out[f"s_first_click_{tag}_{name}"] = round(float(np.median(firsts[name])), 4)
            print(f"cut-out bench {tag} {name}: {out[f's_per_click_{tag}_{name}']:.3f} CPU s per click (median of "
                  f"{repeats}: {', '.join(f'{m:.3f}' for m in means[name])}), IoU after {clicks} clicks "
                  f"{ious[name]:.3f}")
    out["cutout_setting"] = (f"GrabCut test image {sample['id']} enlarged to "
                             f"{', '.join(f'{h}x{w}' for h, w in sizes.values())} (rows x columns); {clicks} simulated "
                             f"clicks, CPU s of the method call per click (1 thread, BLAS / OpenMP pools included), "
                             f"the median over {repeats} runs of them, the models taking turns"
                             f"{'' if unet is None or not unets else f'; U-Net {unet[1]}'}; measured "
                             f"{time.strftime('%Y-%m-%d %H:%M')}")
    return out
