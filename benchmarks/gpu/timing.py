"""Lightning callbacks that time steps on the device clock and count the FLOPs of one step.

The Trainer owns precision and devices (``precision="bf16-mixed"``); these callbacks only watch.
A step is timed from ``on_*_batch_start`` to ``on_*_batch_end`` with the device synchronised at
both ends, so host-side data loading between steps is not counted. Training: the optimiser step
and every callback placed before the timer (EMA update) fall inside the window.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.flop_counter import FlopCounterMode


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer(pl.Callback):
    """Seconds of each step after ``warmup`` steps; FLOPs of step ``flop_step`` (not timed: the
    counter slows it); every training loss, to check that a run stays finite."""

    def __init__(self, warmup: int, flop_step: int | None = None) -> None:
        self.warmup, self.flop_step = warmup, flop_step
        self.seconds: list[float] = []
        self.flops: int | None = None
        self.losses: list[float] = []
        self._counter: FlopCounterMode | None = None
        self._start = 0.0

    def _begin(self, pl_module: pl.LightningModule, batch_idx: int) -> None:
        if batch_idx == self.flop_step:
            self._counter = FlopCounterMode(display=False)
            self._counter.__enter__()
        synchronize(pl_module.device)
        self._start = time.perf_counter()

    def _end(self, pl_module: pl.LightningModule, batch_idx: int) -> None:
        synchronize(pl_module.device)
        elapsed = time.perf_counter() - self._start
        if self._counter is not None:
            self._counter.__exit__(None, None, None)
            self.flops = int(self._counter.get_total_flops())
            self._counter = None
        elif batch_idx >= self.warmup:
            self.seconds.append(elapsed)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self._begin(pl_module, batch_idx)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._end(pl_module, batch_idx)
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:
            self.losses.append(float(loss.detach().float().cpu()))

    def on_predict_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                               batch_idx: int, dataloader_idx: int = 0) -> None:
        self._begin(pl_module, batch_idx)

    def on_predict_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                             batch_idx: int, dataloader_idx: int = 0) -> None:
        self._end(pl_module, batch_idx)

    @property
    def median_s(self) -> float:
        if not self.seconds:
            raise RuntimeError("no timed step: raise the step count above warmup + 1")
        return statistics.median(self.seconds)

    def all_finite(self) -> bool:
        return bool(self.losses) and all(math.isfinite(v) for v in self.losses)


def throughput_fields(prefix: str, timer: StepTimer, images_per_step: int, peak_tflops: float | None) -> dict:
    """``<prefix>_step_s``, ``_imgs_per_s``, ``_tflops`` (achieved) and ``_mfu`` (against the bf16 peak)."""
    step = timer.median_s
    out: dict[str, Any] = {f"{prefix}_step_s": round(step, 5), f"{prefix}_imgs_per_s": round(images_per_step / step, 2),
                           f"{prefix}_timed_steps": len(timer.seconds)}
    if timer.flops is not None:
        tflops = timer.flops / step / 1e12
        out[f"{prefix}_gflop_per_step"] = round(timer.flops / 1e9, 2)
        out[f"{prefix}_tflops"] = round(tflops, 3)
        out[f"{prefix}_mfu"] = round(tflops / peak_tflops, 4) if peak_tflops else None
    return out


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 3) if device.type == "cuda" else None
