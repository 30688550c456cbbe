"""``make bench PROJECT=classification``: parameters and CPU inference throughput, MSFF vs ResNet-50.

Same batch, resolution and thread count for every model, measured in one process: warm-up, then
the median of several timed repeats of a forward pass under inference mode, the models interleaved.
"""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from projects.classification.models import count_parameters, create_model
from shared.bench import inference_call, interleaved_seconds, peak_rss_mb, write_results

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
    return write_results(b.output, results)
