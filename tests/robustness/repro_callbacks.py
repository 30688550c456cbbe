"""A callback for the kill -9 test: it holds a training at the start of an epoch (after the previous
epoch's last.ckpt was written) and says so in a marker file, so the test kills a live process at a
known point instead of racing it."""

from __future__ import annotations

import time
from pathlib import Path

import pytorch_lightning as pl


class PauseAtEpoch(pl.Callback):
    def __init__(self, epoch: int, marker: str, seconds: float = 120.0) -> None:
        self.epoch, self.marker, self.seconds = epoch, Path(marker), seconds

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            self.marker.write_text(str(trainer.global_step))
            time.sleep(self.seconds)
