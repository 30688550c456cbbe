"""``make bench PROJECT=variational_seg``: speed and accuracy against scikit-image's ``chan_vese`` on
the same GrabCut images at the working resolution, in one run; plus batched throughput at 256^2.

* ours: the full pipeline per image (resize, D_G, weights, ADMM, upsample), tuned ``wbh`` parameters;
* ``chan_vese``: only the level-set call on the grey working-size image (mu = ``bench.skimage_mu``,
  initialised +1 on the same marker disks), so the comparison favours scikit-image;
* ``mean_iterations_<model>``: the ADMM stopping k of each model on those images;
* ``*_ours_spec_solver``: ours with the spec's plain ADMM and stopping rule (relax 1, tol 1e-4), for
  comparison with the project's solver defaults (over-relaxation 1.5, tol 1e-3; README "Speed");
* ``batched_imgs_per_s``: B images of 256^2 solved as one batch on the benchmark device;
* ``dsc_<m>_k1|k3|k5`` and ``s_per_image_<m>`` for the shipped model (``wbh_colour``), the paper's
  ``wbh``, the anchors ``cv2_grabcut`` and ``random_walker`` (issue 15) and, when a trained one is found,
  the pretrained-encoder U-Net ``unet_lite0`` (issue 13; ``bench.unet_ckpt``): each image with 1, 3 and 5
  simulated clicks, the four methods run in turn per image and click count (same working-size photo;
  each method's own marker radius, ``marker_radius`` of its model config); ``s_per_image_<m>`` is the
  whole per-image pipeline (resize, method, upsample) averaged over the three click counts.

``noc85_<m>``, ``noc90_<m>``, ``nof90_<m>``, ``s_per_click_<m>``: the field's click protocol (issue 29,
``bench_noc.py``; ``bench.noc``: from the ``SWEEP=noc`` runs, measured here, or skipped; ``bench.only_noc``:
only these keys, added to the existing results). ``s_per_click_1mp_<m>``, ``s_per_click_12mp_<m>``: time per click
of ``bench.cutout_models`` on a 1- and a 12-megapixel photo (``bench_cutout.py``; with ``only_noc`` too).

The legacy keys ``*_ours`` (``dsc_ours``, ``s_per_image_ours``, ``speedup_vs_skimage``, ...) are the
paper's model ``wbh`` against ``chan_vese``, as in the reproduction's targets.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from skimage.segmentation import chan_vese

from projects.variational_seg.data import build_dataset
from projects.variational_seg.markers import points_to_mask, scale_points
from projects.variational_seg.methods import model_config, segmenter_for
from projects.variational_seg.params import marker_radius, resolve_params
from projects.variational_seg.pipeline import image_tensor, set_threads, to_working, upsample
from projects.variational_seg.pipeline import segment as run_segment
from projects.variational_seg.protocol import score
from projects.variational_seg.solver import disks, init_radius, solve
from shared.bench import device_name, write_results


def skimage_chan_vese(image: np.ndarray, points: np.ndarray, max_side: int, mu: float) -> tuple[np.ndarray, float]:
    """(probability-like mask at image resolution, seconds of the chan_vese call)."""
    x, m = to_working(image, points, max_side)
    grey = x[0].mean(0).numpy().astype(np.float64)
    init = np.where(disks(m, init_radius(*grey.shape))[0].numpy() > 0, 1.0, -1.0)
    start = time.perf_counter()
    seg = chan_vese(grey, mu=mu, init_level_set=init)
    seconds = time.perf_counter() - start
    if seg[m[0].numpy()].mean() < 0.5:  # the returned phase is {phi > 0}: flip if it misses the markers
        seg = ~seg
    return upsample(torch.from_numpy(seg.astype(np.float32)), image.shape[:2]), seconds


def batched_throughput(samples: list[dict[str, Any]], cfg: DictConfig, device: str) -> float:
    """Images per second for one batch of ``bench.batch_size`` GrabCut images resized to 256^2."""
    size = int(cfg.bench.batch_image_size)
    xs, ms = [], []
    for s in samples[: int(cfg.bench.batch_size)]:
        xs.append(F.interpolate(image_tensor(s["image"]), size=(size, size), mode="area"))
        pts = scale_points(s["points"], s["image"].shape[:2], (size, size))
        ms.append(torch.from_numpy(points_to_mask(pts, (size, size)))[None])
    x, m = torch.cat(xs).to(device), torch.cat(ms).to(device)
    params = resolve_params(model_config("wbh"), cfg.data)
    solve(x, m, params, diagnostics=False)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    solve(x, m, params, diagnostics=False)
    if device == "cuda":
        torch.cuda.synchronize()
    return len(x) / (time.perf_counter() - start)


COMPARED = ("wbh_colour", "wbh", "cv2_grabcut", "random_walker")
UNET = "unet_lite0"   # the U-Net on the ImageNet Lite0 encoder, when a trained checkpoint is found


def trained_unet(cfg: DictConfig) -> tuple[Any, str] | None:
    """(module, checkpoint) of the pretrained-encoder U-Net: ``bench.unet_ckpt``, else the newest finished
    U-Net training with an ``encoder`` among those the table sweeps make (``unet_training_root``:
    runs/variational_seg/unet_trainings/<model>-s<seed>-<key>/); None when there is none."""
    from projects.variational_seg.unet import load_unet

    given = cfg.bench.get("unet_ckpt")
    if given:
        return load_unet(given), str(given)
    trainings = Path(cfg.paths.log_dir) / "variational_seg" / "unet_trainings"
    finished = [run / "checkpoints" / "last.ckpt" for run in trainings.glob("*") if (run / "metrics.json").is_file()]
    for ckpt in sorted((c for c in finished if c.is_file()), key=lambda p: p.stat().st_mtime, reverse=True):
        module = load_unet(ckpt)
        if module.hparams.get("encoder"):
            return module, str(ckpt)
    return None


def warm_up(segmenters: dict[str, Any], sample: dict[str, Any]) -> None:
    """One untimed call of every method (OpenCV's Lab tables, scikit-image imports, first FFT plans)."""
    for run_model in segmenters.values():
        run_model([sample["image"]], [sample["points"]], [sample.get("background")])


def anchor_comparison(cfg: DictConfig, max_side: int, unet: tuple[Any, str] | None = None) -> dict[str, Any]:
    """The issue-15 keys: DSC per click count and seconds per image of the shipped model, wbh and the
    two anchors, in one pass (per image and click count the methods run in turn)."""
    ks = [int(k) for k in cfg.bench.get("ks", [1, 3, 5])]
    segmenters = {n: segmenter_for(model_config(n), cfg.data, max_side,
                                   int(cfg.markers.radius)) for n in COMPARED}
    if unet is not None:
        from projects.variational_seg.unet import unet_segmenter

        segmenters[UNET] = unet_segmenter(unet[0])
    names = list(segmenters)
    dsc: dict[tuple[str, int], list[float]] = {}
    seconds: dict[str, list[float]] = {n: [] for n in names}
    limit = cfg.bench.get("limit")
    for k in ks:
        dataset = build_dataset(cfg.data, {**OmegaConf.to_container(cfg.markers), "k": k, "source": "simulated"},
                                cfg.seed, split=cfg.bench.split)
        n = min(len(dataset), int(limit or len(dataset)))
        for i in range(n):
            sample = dataset[i]
            if i == 0 and k == ks[0]:
                warm_up(segmenters, sample)
            for name, run_model in segmenters.items():
                seg = run_model([sample["image"]], [sample["points"]], [None])[0]
                dsc.setdefault((name, k), []).append(score(seg.prob, sample)["dice"])
                seconds[name].append(seg.seconds)
    radii = {n: marker_radius(model_config(n), int(cfg.markers.radius)) for n in COMPARED}
    out: dict[str, Any] = {"compared_markers": f"simulated k in {ks}; marker disk radius (working px) {radii}"}
    if unet is None:
        out[f"s_per_image_{UNET}"] = ("not measured: no trained U-Net with a pretrained encoder (bench.unet_ckpt, or "
                                      "`make sweep PROJECT=variational_seg SWEEP=anchors` trains and caches it)")
    else:
        out[f"{UNET}_checkpoint"] = unet[1]
        out[f"params_m_{UNET}"] = round(sum(p.numel() for p in unet[0].parameters()) / 1e6, 3)
    for name in names:
        for k in ks:
            out[f"dsc_{name}_k{k}"] = round(float(np.mean(dsc[(name, k)])), 4)
        out[f"s_per_image_{name}"] = round(float(np.mean(seconds[name])), 4)
    out["wbh_colour_vs_cv2_grabcut_time_ratio"] = round(
        out["s_per_image_wbh_colour"] / out["s_per_image_cv2_grabcut"], 3)
    return out


def run(cfg: DictConfig) -> Path:
    set_threads(cfg.working)
    if cfg.bench.get("only_noc"):   # the NoC keys added to the committed results, the other keys kept
        import json

        from projects.variational_seg.bench_cutout import cutout_keys
        from projects.variational_seg.bench_noc import noc_keys

        output = Path(cfg.bench.output)
        kept = json.loads(output.read_text()) if output.is_file() else {}   # its measured_at stays: the old keys'
        cutout = cutout_keys(cfg, trained_unet(cfg)) if cfg.bench.get("cutout_models") else {}
        return write_results(output, {**kept, **noc_keys(cfg), **cutout,
                                      "noc_added_at": time.strftime("%Y-%m-%d %H:%M:%S")})
    unet = trained_unet(cfg)   # first: a wrong bench.unet_ckpt fails before minutes of timing
    max_side = int(cfg.working.max_side)
    dataset = build_dataset(cfg.data, cfg.markers, cfg.seed, split=cfg.bench.split)
    samples = [dataset[i] for i in range(min(len(dataset), int(cfg.bench.get("limit") or len(dataset))))]
    images, points = [s["image"] for s in samples], [s["points"] for s in samples]
    results: dict[str, Any] = {"data": cfg.data.name, "split": cfg.bench.split, "n_images": len(samples),
                               "max_side": max_side, "markers": f"{cfg.markers.source} k={cfg.markers.k}",
                               "load_avg_1min_at_start": round(os.getloadavg()[0], 2)}
    names = ("wbh", "rci", "tv", "ours_spec_solver")
    params = {n: resolve_params(model_config(n), cfg.data) for n in names[:3]}
    # The same tuned model with the spec's plain ADMM stopping rule (no over-relaxation, tol 1e-4).
    params["ours_spec_solver"] = params["wbh"].with_(relax=1.0, tol=1e-4)
    per_model: dict[str, list] = {n: [] for n in names}
    cv = []
    for im, pt in zip(images, points):  # per image in turn, so machine noise hits every method alike
        for name in names:
            per_model[name].append(run_segment([im], [pt], params[name], max_side)[0])
        cv.append(skimage_chan_vese(im, pt, max_side, float(cfg.bench.skimage_mu)))
    for name in names:
        results[f"mean_iterations_{name}"] = round(float(np.mean([s.iterations for s in per_model[name]])), 2)
        results[f"dsc_{name}"] = round(float(np.mean([score(s.prob, x)["dice"]
                                                       for s, x in zip(per_model[name], samples)])), 4)
    for key, name in (("ours_spec_solver", "ours_spec_solver"), ("ours", "wbh")):
        results[f"s_per_image_{key}"] = round(float(np.mean([s.seconds for s in per_model[name]])), 4)
    results["s_per_image_skimage_chan_vese"] = round(float(np.mean([c[1] for c in cv])), 4)
    results["speedup_vs_skimage"] = round(results["s_per_image_skimage_chan_vese"] / results["s_per_image_ours"], 3)
    results["dsc_ours"] = results["dsc_wbh"]
    results["mean_iterations_ours"] = results["mean_iterations_wbh"]
    results["dsc_skimage_chan_vese"] = round(float(np.mean([score(c[0], s)["dice"] for c, s in zip(cv, samples)])), 4)
    results["skimage_mu"] = float(cfg.bench.skimage_mu)
    results.update(anchor_comparison(cfg, max_side, unet))
    from projects.variational_seg.bench_noc import noc_keys

    results.update(noc_keys(cfg, required=False))
    if cfg.bench.get("cutout_models"):
        from projects.variational_seg.bench_cutout import cutout_keys

        results.update(cutout_keys(cfg, unet))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results["batched_imgs_per_s"] = round(batched_throughput(samples, cfg, device), 2)
    results["batched_setting"] = f"batch {cfg.bench.batch_size} x {cfg.bench.batch_image_size}^2 on {device_name()}"
    if device != "cuda":
        results["gpu_imgs_per_s_256"] = "not measured (no GPU on the benchmark machine)"
    results["targets"] = {"speedup_vs_skimage_min": 10, "mean_iterations_ours_max": 50,
                          "gpu_imgs_per_s_256_min": 200}
    return write_results(cfg.bench.output, results)
