"""The one Trainer every GPU-bench measurement runs through: the Trainer owns precision and devices."""

from __future__ import annotations

import tempfile

import pytorch_lightning as pl
import torch


def bench_device() -> torch.device:
    return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")


def bench_trainer(callbacks: list[pl.Callback], max_steps: int = -1, val_every: int | None = None,
                  limit_val_batches: int | float = 0) -> pl.Trainer:
    """bf16-mixed on one device, no loggers, checkpoints or progress bars (nothing but the measurement);
    validation every ``val_every`` training steps when given."""
    return pl.Trainer(
        accelerator="gpu" if torch.cuda.is_available() else "cpu", devices=1, precision="bf16-mixed",
        max_steps=max_steps, max_epochs=-1 if max_steps > 0 else 1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        limit_val_batches=limit_val_batches if val_every else 0, val_check_interval=val_every,
        check_val_every_n_epoch=None if val_every else 1, use_distributed_sampler=False, callbacks=callbacks,
        default_root_dir=tempfile.mkdtemp(prefix="ecomvision-gpu-bench-"))
