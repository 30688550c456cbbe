"""Progress as plain lines when stdout is not a terminal (nohup, SLURM, ``> train.log``).

The rich progress bar redraws one terminal line; sent to a file it shows nothing until the end. When
stdout is not a TTY, :func:`progress_bar` (the ``callbacks.progress_bar`` target) returns
:class:`LineProgress` instead, which prints one line per epoch, one every ``every_n_steps`` batches,
and one at least every ``every_seconds`` (a minute) while training, validating or testing, however
slow the steps are (a loaded machine took 38 minutes for semiseg's first 50 steps)::

    epoch 2/10 step 150/560 loss 0.4321 val/miou 0.4120 elapsed 0:01:02 eta 0:04:10
    epoch 2/10 step 560/560 loss 0.4102 val/miou 0.4388 elapsed 0:03:51 eta 0:30:48 (epoch done)

and appends the same lines to the run folder's log: Hydra's job log (``<run dir>/<job>.log``, which
nothing else writes to) when Hydra configured logging, else ``<run dir>/progress.log``.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.callbacks.progress import ProgressBar

LOSS_KEYS = ("train/loss_step", "train/loss", "loss")


def progress_bar(every_n_steps: int = 50, monitor: str | None = None, every_seconds: float = 60.0) -> ProgressBar:
    """The rich bar on a terminal, plain lines otherwise."""
    if sys.stdout.isatty():
        return RichProgressBar()
    return LineProgress(every_n_steps=every_n_steps, monitor=monitor, every_seconds=every_seconds)


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    return str(timedelta(seconds=round(max(0.0, seconds))))


def run_log_path(run_dir: Path) -> Path:
    """Hydra's job log when it lies in the run folder, else ``<run dir>/progress.log``."""
    for handler in logging.getLogger().handlers:
        path = Path(getattr(handler, "baseFilename", "") or ".")
        if isinstance(handler, logging.FileHandler) and path.parent.resolve() == run_dir.resolve():
            return path
    return run_dir / "progress.log"


class LineProgress(ProgressBar):
    """One line per epoch (and every ``every_n_steps`` batches; 0: epochs only, and whenever
    ``every_seconds`` passed without a line) with the epoch (counted from 1, as in checkpoint names),
    the step, the training loss, the monitored metric, the elapsed time and an ETA for the whole fit."""

    def __init__(self, every_n_steps: int = 50, monitor: str | None = None, stream: TextIO | None = None,
                 every_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every_n_steps, self.monitor, self._stream = int(every_n_steps), monitor, stream
        self.every_seconds, self.clock = float(every_seconds), clock
        self._enabled = True
        self._start = self._test_start = 0.0
        self._last_line = clock()
        self._first_batch = 0
        self.log_path: Path | None = None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def print(self, *args: Any, **kwargs: Any) -> None:
        self.emit(" ".join(str(a) for a in args))

    def emit(self, line: str) -> None:
        if not self._enabled:
            return
        stream = self._stream or sys.stdout
        print(line, file=stream, flush=True)
        self._last_line = self.clock()
        if self.log_path is not None:
            try:
                with self.log_path.open("a") as f:
                    f.write(line + "\n")
            except OSError:
                self.log_path = None  # the console line is what matters; never fail a run for its log

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """(Not on_fit_start: the batches per epoch are known once the train loader is set up.)"""
        self.log_path = run_log_path(Path(trainer.default_root_dir)) if trainer.is_global_zero else None
        self._start = self.clock()
        self._first_batch = self._batches_done(trainer, 0)
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
        self.emit(f"fit: {epochs} epochs x {self.total_train_batches} batches, starting with epoch "
                  f"{trainer.current_epoch + 1}")

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        last = batch_idx + 1 >= self.total_train_batches  # the epoch line follows
        if last:
            return
        if (self.every_n_steps > 0 and (batch_idx + 1) % self.every_n_steps == 0) or self._quiet_too_long():
            self.emit(self.status_line(trainer, batch_idx + 1))

    def _quiet_too_long(self) -> bool:
        return self.clock() - self._last_line >= self.every_seconds

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if self._quiet_too_long() and not trainer.sanity_checking:
            self.emit(f"epoch {trainer.current_epoch + 1} validating: batch {batch_idx + 1}/"
                      f"{_count(self._total(trainer.num_val_batches))} elapsed "
                      f"{format_duration(self.clock() - self._start)}")

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                          batch_idx: int, dataloader_idx: int = 0) -> None:
        if self._quiet_too_long():
            self.emit(f"{self._test_label(trainer)}: batch {batch_idx + 1}/"
                      f"{_count(self._total(trainer.num_test_batches))} elapsed "
                      f"{format_duration(self.clock() - self._test_start)}")

    @staticmethod
    def _total(batches: Any) -> float:
        return sum(batches) if isinstance(batches, list) else batches

    @staticmethod
    def _test_label(trainer: pl.Trainer) -> str:
        """Which weights a test runs on: ``trainer.test(ckpt_path=...)``'s checkpoint, else the current ones."""
        source = getattr(trainer, "ckpt_path", None)
        return f"test of {Path(source).name}" if source else "test of the current weights"

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.emit(self.status_line(trainer, self.total_train_batches) + " (epoch done)")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.emit(f"{self._test_label(trainer)}: {_count(self._total(trainer.num_test_batches))} batches in "
                  f"{format_duration(self.clock() - self._test_start)}")

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.log_path is None and trainer.is_global_zero:
            self.log_path = run_log_path(Path(trainer.default_root_dir))
        self._test_start = self.clock()

    def _batches_done(self, trainer: pl.Trainer, batches_in_epoch: int | float) -> float:
        return trainer.current_epoch * self.total_train_batches + batches_in_epoch

    def status_line(self, trainer: pl.Trainer, batches_in_epoch: int | float) -> str:
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        done = self._batches_done(trainer, batches_in_epoch)
        total = epochs * self.total_train_batches if epochs else math.inf
        elapsed = self.clock() - self._start
        rate = elapsed / max(1.0, done - self._first_batch)
        parts = [f"epoch {trainer.current_epoch + 1}/{epochs or '?'}",
                 f"step {_count(batches_in_epoch)}/{_count(self.total_train_batches)}"]
        metrics = trainer.callback_metrics
        loss_key = next((k for k in LOSS_KEYS if k in metrics), None) or next(
            (k for k in metrics if k.startswith("train") and "loss" in k), None)
        if loss_key is not None:
            parts.append(f"loss {_number(metrics[loss_key])}")
        if self.monitor and self.monitor in metrics:
            parts.append(f"{self.monitor} {_number(metrics[self.monitor])}")
        parts += [f"elapsed {format_duration(elapsed)}", f"eta {format_duration(rate * (total - done))}"]
        return " ".join(parts)


def _count(value: int | float) -> str:
    return str(int(value)) if math.isfinite(value) else "?"


def _number(value: Any) -> str:
    try:
        return f"{float(value):.4f}"
    except (TypeError, ValueError):
        return str(value)
