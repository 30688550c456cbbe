"""``make bench PROJECT=classification``: parameters and CPU inference throughput, MSFF vs ResNet-50.

Same batch, resolution and thread count for every model, measured in one process: warm-up, then
the median of several timed repeats of a forward pass under inference mode, the models interleaved.
``predict_peak_rss_mb_<n>_photo(s)``: the peak memory of ``make predict`` (a child process) on ``n``
synthetic camera-sized JPEGs (``bench.peak_rss_photos``, ``bench.peak_rss_photo_size``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from omegaconf import DictConfig

from projects.classification.models import create_model
from projects.classification.module import ClassificationModule
from shared.bench import (
    inference_call,
    interleaved_seconds,
    peak_rss_mb,
    predict_peak_rss_mb,
    save_fresh_checkpoint,
    write_results,
)
from shared.lightning_utils import count_parameters

MODELS = {"msff": "msff_ecomnet", "resnet50": "resnet50", "mobilenetv3": "mobilenetv3_large_100",
          "efficientnet_b0": "efficientnet_b0"}


def run(cfg: DictConfig) -> Path:
    b = cfg.bench
    torch.manual_seed(0)
    x = torch.randn(b.batch_size, 3, b.image_size, b.image_size)
    results: dict = {"batch_size": b.batch_size, "image_size": b.image_size, "num_classes": b.num_classes,
                     "repeats": b.repeats}
    models = {key: create_model(arch, b.num_classes).eval() for key, arch in MODELS.items()}
    for key, model in models.items():
        results[f"params_{key}"] = count_parameters(model)
    # Interleaved (model A, B, C, D, A, B, ...) so that machine noise hits every model alike.
    times = interleaved_seconds({k: inference_call(m, x) for k, m in models.items()}, b.repeats, b.warmup)
    for key, seconds in times.items():
        results[f"imgs_per_s_{key}"] = round(b.batch_size / seconds, 2)
    ratio = results["imgs_per_s_msff"] / results["imgs_per_s_resnet50"]
    results["throughput_ratio_msff_over_resnet50"] = round(ratio, 3)
    results["params_ratio_msff_over_resnet50"] = round(results["params_msff"] / results["params_resnet50"], 3)
    results["peak_rss_mb"] = round(peak_rss_mb(), 1)
    results["targets"] = {"params_msff_max": 12_000_000, "throughput_ratio_min": 1.5}
    results.update(predict_peak_rss(b))
    return write_results(b.output, results)


def predict_peak_rss(b: DictConfig) -> dict:
    """Peak RSS of ``make predict`` (an MSFF-EComNet checkpoint, fresh weights; a child process) on 1 and
    100 camera-sized JPEGs: the same peak for both shows the folder is streamed."""
    with tempfile.TemporaryDirectory() as tmp:
        module = ClassificationModule({"name": "msff_ecomnet", "arch": MODELS["msff"]}, b.num_classes, {"lr": 1e-3})
        ckpt = save_fresh_checkpoint(module, Path(tmp) / "msff.ckpt")

        def cli(folder: Path, out: Path) -> list[str]:
            return ["predict", "classification", f"ckpt_path={ckpt}", f"input={folder}", f"output={out}/",
                    f"data.image_size={b.image_size}", f"paths.log_dir={Path(tmp) / 'runs'}"]

        peaks = predict_peak_rss_mb(cli, list(b.peak_rss_photos), list(b.peak_rss_photo_size))
    return {"peak_rss_photo_size_wh": list(b.peak_rss_photo_size), **peaks}
