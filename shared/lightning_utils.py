"""Small pieces several LightningModules share: the warm-up + cosine schedule and class-name bookkeeping."""

from __future__ import annotations

import math
from typing import Any

import torch


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int,
                  warmup_steps: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step LR factor: linear warm-up over ``warmup_steps``, then cosine from 1 to 0 at ``total_steps``."""
    total = max(1, int(total_steps))
    warmup = min(int(warmup_steps), total - 1)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class ClassNamesMixin:
    """Keeps ``self.class_names`` in step with the datamodule's ``classes`` and stores it in checkpoints,
    so that eval/predict from a checkpoint name the classes without the training data."""

    class_names: list[str]
    trainer: Any

    def on_fit_start(self) -> None:
        classes = getattr(self.trainer.datamodule, "classes", None)
        if classes:
            self.class_names = list(classes)

    def on_test_start(self) -> None:
        self.on_fit_start()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from shared.checkpoints import stamp

        checkpoint["class_names"] = self.class_names
        stamp(self, checkpoint)  # which project wrote it

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.class_names = checkpoint.get("class_names", self.class_names)
