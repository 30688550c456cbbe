"""``make bench PROJECT=classification``: parameters, FLOPs and CPU throughput of every Table 3 model.

Same batch, resolution and thread count for every model, measured in one process: warm-up, then the
median of several timed repeats, the models interleaved so that machine noise hits every model alike.

* ``imgs_per_s_<model>``: inference (eval mode, ``inference_mode``) in the layout training and predict use
  (``module.memory_format``, channels-last by default); ``imgs_per_s_<model>_nchw`` the same model in the
  plain NCHW layout; ``imgs_per_s_timm_<arch>[_nchw]`` a plain ``timm.create_model`` built outside our
  code, the reference our figures must match.
* ``gflop_per_img_<model>`` (``torch.utils.flop_counter``, multiply-add = 2 FLOPs) and
  ``achieved_gflop_s_<model>`` = FLOPs x images/s: what the CPU gives each network.
* ``train_imgs_per_s_<model>[_nchw]``: a training step (forward, backward, AdamW) at the tables' 128 px
  and batch 32, for the layouts a training run can use.
* ``ort_images_per_s_<model>_b1|b32`` (ONNX Runtime, CPU, the graph ``make export`` writes) beside
  ``eager_images_per_s_<model>_b1|b32`` (PyTorch eager, channels-last), same threads and inputs.
* ``predict_peak_rss_mb_<n>_photo(s)``: the peak memory of ``make predict`` (a child process) on ``n``
  synthetic camera-sized JPEGs (``bench.peak_rss_photos``, ``bench.peak_rss_photo_size``).

Pretrained models need their weights package (``packaged:``); without it they are left out and named in
``skipped``.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from pathlib import Path

import timm
import torch
from omegaconf import DictConfig
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

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
from shared.errors import WeightsNotFoundError
from shared.export import with_preprocessing
from shared.inference import InferenceSpec
from shared.lightning_utils import count_parameters
from shared.onnx_bench import throughput

# bench key -> (architecture, pretrained source): the rows of Table 3 and the stage of Table 2
MODELS: dict[str, tuple[str, str | None]] = {
    "msff": ("msff_ecomnet", None),
    "resnet50": ("resnet50", None),
    "mobilenetv3": ("mobilenetv3_large_100", None),
    "efficientnet_b0": ("efficientnet_b0", None),
    "efficientnet_lite0": ("tf_efficientnet_lite0", "packaged:efficientnet_lite0"),
    "efficientnet_lite2": ("tf_efficientnet_lite2", "packaged:efficientnet_lite2"),
    "lite0_msff_stage": ("msff_stage", "packaged:efficientnet_lite0"),
}
TIMM_REFERENCES = ("tf_efficientnet_lite0", "resnet50")
ORT_MODELS = ("msff", "efficientnet_lite0")   # make export's graph in ONNX Runtime vs PyTorch eager
TRAINED = ("msff", "efficientnet_lite0", "efficientnet_lite2", "resnet50")  # train-step timing


def run(cfg: DictConfig) -> Path:
    b = cfg.bench
    torch.manual_seed(0)
    size, batch = int(b.image_size), int(b.batch_size)
    results: dict = {"batch_size": batch, "image_size": size, "num_classes": b.num_classes, "repeats": b.repeats,
                     "threads": torch.get_num_threads(), "layout": "channels_last (imgs_per_s_*), NCHW (*_nchw)"}
    models, skipped = _models(b.num_classes)
    if skipped:
        results["skipped"] = skipped
    for key, model in models.items():
        results[f"params_{key}"] = count_parameters(model)
        results[f"gflop_per_img_{key}"] = round(flops_per_image(model, size) / 1e9, 3)
    calls: dict[str, Callable[[], None]] = {}
    x = torch.randn(batch, 3, size, size)
    for key, model in models.items():
        calls[f"{key}_nchw"] = inference_call(model, x)
        calls[key] = inference_call(nhwc(model), x.contiguous(memory_format=torch.channels_last))
    for arch in TIMM_REFERENCES:
        plain = timm.create_model(arch, pretrained=False, num_classes=b.num_classes)
        calls[f"timm_{arch}_nchw"] = inference_call(plain, x)
        calls[f"timm_{arch}"] = inference_call(nhwc(plain), x.contiguous(memory_format=torch.channels_last))
    for key, seconds in interleaved_seconds(calls, b.repeats, b.warmup).items():
        results[f"imgs_per_s_{key}"] = round(batch / seconds, 2)
    for key in models:
        achieved = results[f"gflop_per_img_{key}"] * results[f"imgs_per_s_{key}"]
        results[f"achieved_gflop_s_{key}"] = float(f"{achieved:.3g}")   # 3 digits: tiny test sizes must not round to 0
    results.update(ort_throughput(models, size, b))
    results.update(train_throughput(models, b))
    ratio = results["imgs_per_s_msff"] / results["imgs_per_s_resnet50"]
    results["throughput_ratio_msff_over_resnet50"] = round(ratio, 3)
    results["params_ratio_msff_over_resnet50"] = round(results["params_msff"] / results["params_resnet50"], 3)
    results["peak_rss_mb"] = round(peak_rss_mb(), 1)
    results["targets"] = {"params_msff_max": 12_000_000, "throughput_ratio_min": 1.5}
    results.update(predict_peak_rss(b))
    return write_results(b.output, results)


def ort_throughput(models: dict[str, nn.Module], size: int, b: DictConfig) -> dict[str, float]:
    """``ort_images_per_s_<model>_b1|b32`` beside ``eager_images_per_s_<model>_b1|b32``: each model as
    ``make export`` writes it (normalisation inside) in ONNX Runtime, and in PyTorch channels-last."""
    spec = InferenceSpec(project="classification", names=tuple(str(i) for i in range(b.num_classes)), size=size)
    chosen = {k: (with_preprocessing(nhwc(models[k]), spec), ["logits"]) for k in ORT_MODELS if k in models}
    return throughput(chosen, (size, size), int(b.repeats), int(b.warmup), channels_last=True)


def _models(num_classes: int) -> tuple[dict[str, nn.Module], list[str]]:
    models: dict[str, nn.Module] = {}
    skipped: list[str] = []
    for key, (arch, source) in MODELS.items():
        try:
            models[key] = create_model(arch, num_classes, pretrained=source).eval()
        except WeightsNotFoundError as exc:
            skipped.append(f"{key}: {exc}")
    return models, skipped


def nhwc(model: nn.Module) -> nn.Module:
    """A channels-last copy of ``model`` (the NCHW original is timed beside it)."""
    return copy.deepcopy(model).to(memory_format=torch.channels_last)


def flops_per_image(model: nn.Module, size: int) -> float:
    """Forward FLOPs of one image (a multiply-add counts 2), from PyTorch's own counter."""
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model.eval()(torch.randn(1, 3, size, size))
    return float(counter.get_total_flops())


def train_throughput(models: dict[str, nn.Module], b: DictConfig) -> dict[str, float]:
    """Images/s of a training step (forward, cross-entropy, backward, AdamW) at ``bench.train_image_size``."""
    size, batch = int(b.train_image_size), int(b.train_batch_size)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, int(b.num_classes), (batch,))
    calls: dict[str, Callable[[], None]] = {}
    for key in (k for k in TRAINED if k in models):
        for suffix, layout in (("", torch.channels_last), ("_nchw", torch.contiguous_format)):
            model = copy.deepcopy(models[key]).to(memory_format=layout).train()
            calls[f"{key}{suffix}"] = _train_step(model, x.contiguous(memory_format=layout), y)
    seconds = interleaved_seconds(calls, int(b.train_repeats), 1)
    out: dict[str, float] = {"train_image_size": size, "train_batch_size": batch}
    out.update({f"train_imgs_per_s_{k}": round(batch / s, 2) for k, s in seconds.items()})
    return out


def _train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step


def predict_peak_rss(b: DictConfig) -> dict:
    """Peak RSS of ``make predict`` (an MSFF-EComNet checkpoint, fresh weights; a child process) on 1 and
    100 camera-sized JPEGs: the same peak for both shows the folder is streamed."""
    with tempfile.TemporaryDirectory() as tmp:
        module = ClassificationModule({"name": "msff_ecomnet", "arch": MODELS["msff"][0]}, b.num_classes, {"lr": 1e-3},
                                      inference={"size": b.image_size, "data": "bench"})
        ckpt = save_fresh_checkpoint(module, Path(tmp) / "msff.ckpt")

        def cli(folder: Path, out: Path) -> list[str]:
            return ["predict", "classification", f"ckpt_path={ckpt}", f"input={folder}", f"output={out}/",
                    f"paths.log_dir={Path(tmp) / 'runs'}"]

        peaks = predict_peak_rss_mb(cli, list(b.peak_rss_photos), list(b.peak_rss_photo_size))
    return {"peak_rss_photo_size_wh": list(b.peak_rss_photo_size), **peaks}
