"""semiseg on the GPU: train-step cost of supervised / UniMatch V2 / MvpMatch with DINOv2 ViT-S/14 and
ViT-B/14 + DPT, inference at 384 vs 518 px, and a 50-step MvpMatch fit on CCP that must stay finite.

Every step runs the project's own LightningModule, datamodule and method callbacks (EMA teacher,
historical queue) through the Trainer at ``precision="bf16-mixed"``.
"""

from __future__ import annotations

import math
import tempfile
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from benchmarks.gpu.inference import inference_fields
from benchmarks.gpu.scale import Scale
from benchmarks.gpu.timing import StepTimer, peak_memory_gib, reset_peak_memory, throughput_fields
from benchmarks.gpu.trainer import bench_device, bench_trainer
from projects.semiseg.bench import method_callbacks
from projects.semiseg.model import build_model, patch_aligned
from shared.callbacks import HistoricalCheckpointQueue
from shared.config import compose

METHODS = ("supervised", "unimatch_v2", "mvpmatch")


def semiseg_config(model: str, method: str, scale: Scale, data: str = "synthetic",
                   extra: tuple[str, ...] = ()) -> DictConfig:
    sizes = [f"data.base_size={scale.crop}", f"data.eval_size={scale.crop}"] if data == "synthetic" else []
    return compose("semiseg", [f"model={model}", f"method={method}", f"data={data}", *scale.model_overrides,
                               f"data.crop_size={scale.crop}", *sizes, f"data.batch_size={scale.batch}",
                               f"data.eval_batch_size={scale.batch}", f"data.num_workers={scale.num_workers}",
                               "logger=none", "seed=0", f"paths.output_dir={tempfile.mkdtemp(prefix='gpu-bench-')}",
                               *extra])


def built_method_callbacks(cfg: DictConfig) -> list[pl.Callback]:
    """The method's EMA teacher and history queue exactly as training builds them (nothing else)."""
    return [instantiate(cfg.callbacks[name]) for name in method_callbacks(cfg)]


def fill_queues(callbacks: list[pl.Callback], net: torch.nn.Module, count: int) -> None:
    """A full queue before the first step, as ``make bench PROJECT=semiseg`` times MvpMatch (in training
    the queue fills as the teacher improves on val)."""
    for queue in callbacks:
        if isinstance(queue, HistoricalCheckpointQueue):
            for _ in range(count):
                queue.push(net)


def _module_and_data(cfg: DictConfig) -> tuple[pl.LightningModule, pl.LightningDataModule]:
    return instantiate(cfg.module, _recursive_=False), instantiate(cfg.datamodule, _recursive_=False)


def train_step_fields(model: str, method: str, scale: Scale, peak: float | None) -> dict[str, Any]:
    cfg = semiseg_config(model, method, scale)
    module, datamodule = _module_and_data(cfg)
    callbacks = built_method_callbacks(cfg)
    fill_queues(callbacks, module.net, scale.queue_models)
    timer = StepTimer(scale.warmup, flop_step=scale.warmup + scale.timed)
    device = bench_device()
    reset_peak_memory(device)
    bench_trainer([*callbacks, timer], max_steps=scale.warmup + scale.timed + 1).fit(module, datamodule=datamodule)
    images = scale.batch * (2 if cfg.method.semi else 1)
    prefix = f"semiseg_train_{model}_{method}"
    return {**throughput_fields(prefix, timer, images, peak), f"{prefix}_images_per_step": images,
            f"{prefix}_peak_mem_gib": peak_memory_gib(device), f"{prefix}_finite": timer.all_finite()}


def train_fields(scale: Scale, peak: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in scale.models:
        for method in METHODS:
            out.update(train_step_fields(model, method, scale, peak))
        step = {m: out[f"semiseg_train_{model}_{m}_step_s"] for m in METHODS}
        out[f"semiseg_train_{model}_ratio_mvpmatch_over_unimatch_v2"] = round(
            step["mvpmatch"] / step["unimatch_v2"], 3)
        out[f"semiseg_train_{model}_ratio_unimatch_v2_over_supervised"] = round(
            step["unimatch_v2"] / step["supervised"], 3)
    return out


def infer_fields(scale: Scale, peak: float | None) -> dict[str, Any]:
    """Images/s of the segmenter at each inference side; a side that is not a multiple of 14 runs at
    the nearest one (``projects.semiseg.model.patch_aligned``: 384 -> 378), as in evaluation."""
    out: dict[str, Any] = {}
    for model in scale.models:
        cfg = semiseg_config(model, "supervised", scale)
        net = build_model(dict(cfg.model), int(cfg.data.num_classes))
        for key, side in scale.infer_sizes:
            out.update(inference_fields(f"semiseg_infer_{model}_{key}", net, side, scale.infer_batch,
                                        scale.infer_batches, peak))
            out[f"semiseg_infer_{model}_{key}_side_computed"] = int(patch_aligned(torch.empty(1, 1, side, side),
                                                                                  net.encoder.patch_size).shape[-1])
        (low, _), (high, _) = scale.infer_sizes
        out[f"semiseg_infer_{model}_speedup_{low}_over_{high}"] = round(
            out[f"semiseg_infer_{model}_{low}_imgs_per_s"] / out[f"semiseg_infer_{model}_{high}_imgs_per_s"], 3)
    return out


def fit_fields(scale: Scale, data: str) -> dict[str, Any]:
    """``fit_steps`` MvpMatch steps (random init, ViT-S/14 at the training crop) with teacher and queue
    on the device, validating every ``fit_val_every`` steps so that the queue fills as in training."""
    extra = ("data.base_size=826", f"data.eval_size={scale.crop}", "data.options.ratio=1_16") if data == "ccp" else ()
    cfg = semiseg_config(scale.models[0], "mvpmatch", scale, data=data, extra=extra)
    module, datamodule = _module_and_data(cfg)
    callbacks = built_method_callbacks(cfg)
    queue = next(c for c in callbacks if isinstance(c, HistoricalCheckpointQueue))
    timer = StepTimer(warmup=0)
    device = bench_device()
    reset_peak_memory(device)
    trainer = bench_trainer([*callbacks, timer], max_steps=scale.fit_steps, val_every=scale.fit_val_every,
                            limit_val_batches=2)
    trainer.fit(module, datamodule=datamodule)
    weights_finite = all(bool(p.isfinite().all()) for p in [*module.net.parameters(), *module.teacher.parameters()])
    val = trainer.callback_metrics.get("val/teacher/miou")
    return {"semiseg_fit_data": data, "semiseg_fit_steps": trainer.global_step,
            "semiseg_fit_losses_finite": timer.all_finite(), "semiseg_fit_weights_finite": weights_finite,
            "semiseg_fit_last_loss": round(timer.losses[-1], 4) if timer.losses else None,
            "semiseg_fit_val_teacher_miou": round(float(val), 4) if val is not None else None,
            "semiseg_fit_queue_pushes": queue.pushes,
            "semiseg_fit_teacher_device": str(next(module.teacher.parameters()).device),
            "semiseg_fit_step_s": round(timer.median_s, 4), "semiseg_fit_peak_mem_gib": peak_memory_gib(device),
            "semiseg_fit_ok": bool(timer.all_finite() and weights_finite and trainer.global_step == scale.fit_steps
                                   and val is not None and math.isfinite(float(val)))}
