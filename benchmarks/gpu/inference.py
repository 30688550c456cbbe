"""Inference images/s of any ``nn.Module`` through ``Trainer.predict`` (bf16-mixed, inference mode)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.gpu.timing import StepTimer, peak_memory_gib, reset_peak_memory, throughput_fields
from benchmarks.gpu.trainer import bench_device, bench_trainer


class Forward(pl.LightningModule):
    """``predict_step`` = one forward of ``net``; nothing is collected (``return_predictions=False``).
    ``channels_last``: the CNN layout that oneDNN and cuDNN run fastest (inputs and weights)."""

    def __init__(self, net: nn.Module, channels_last: bool = False) -> None:
        super().__init__()
        self.net = net.to(memory_format=torch.channels_last) if channels_last else net
        self.channels_last = channels_last

    def predict_step(self, batch: Any, batch_idx: int) -> None:
        x = batch[0]
        self.net(x.contiguous(memory_format=torch.channels_last) if self.channels_last else x)


def inference_fields(prefix: str, net: nn.Module, size: int | tuple[int, int], batch: int, batches: int,
                     peak_tflops: float | None, channels_last: bool = False) -> dict[str, Any]:
    """``<prefix>_imgs_per_s`` etc. for ``batches`` random batches (the first is warm-up, the last is
    FLOP-counted); the host-to-device copy happens before the timed window."""
    h, w = (size, size) if isinstance(size, int) else size
    images = torch.rand(batch * batches, 3, h, w)
    loader = DataLoader(TensorDataset(images), batch_size=batch, pin_memory=torch.cuda.is_available())
    timer = StepTimer(warmup=1, flop_step=batches - 1)
    device = bench_device()
    reset_peak_memory(device)
    bench_trainer([timer]).predict(Forward(net, channels_last), dataloaders=loader, return_predictions=False)
    return {**throughput_fields(prefix, timer, batch, peak_tflops), f"{prefix}_peak_mem_gib": peak_memory_gib(device)}
