"""ModelCheckpoint that fails on the first checkpoint it could not write, and never leaves half of one.

Lightning 2.6's "atomic" save (``lightning_fabric.utilities.cloud_io._atomic_save``) serialises into
memory and then writes the checkpoint's own file: a full disk left a truncated ``epoch001.ckpt``
("failed finding central directory" on load), and it swallows a ``PermissionError``, so with a
read-only folder the whole fit ran and ended in a misleading ``FileNotFoundError``. Here every
checkpoint is written under a hidden temporary name (``.<name>.partial``) and renamed once complete;
a save that fails (or leaves no file) removes the partial file and stops the run with one line naming
the checkpoint. Earlier checkpoints are never touched.

Epochs are counted from 1 in checkpoint names, as in the progress lines: ``epoch003.ckpt`` is written
at the end of "epoch 3/10" (Lightning's own ``{epoch}`` counts from 0).

A run resumed into another folder keeps the best score of the run it resumes (:meth:`load_state_dict`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any
from weakref import proxy

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from shared.errors import EcomvisionError


class CheckpointSaveError(EcomvisionError):
    """A checkpoint file could not be written."""


def partial_path(filepath: str) -> str:
    """Where a checkpoint is written before it is complete: hidden, and not ending in ``.ckpt``."""
    path = Path(filepath)
    return str(path.with_name(f".{path.name}.partial"))


class CheckedCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` that saves through a temporary file and stops the run on a failed save."""

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        """Lightning's ``_save_checkpoint`` (save, remember, notify the loggers) with the save into
        :func:`partial_path` and a rename to ``filepath`` on the rank that writes."""
        partial = partial_path(filepath)
        try:
            trainer.save_checkpoint(partial, self.save_weights_only)
            if trainer.is_global_zero:
                if not os.path.isfile(partial):   # Lightning swallowed the error (PermissionError)
                    raise CheckpointSaveError(self._message(filepath, "the save left no new file"))
                os.replace(partial, filepath)
        except OSError as exc:
            raise CheckpointSaveError(self._message(filepath, exc.strerror or str(exc))) from None
        finally:
            if trainer.is_global_zero and os.path.lexists(partial):
                os.remove(partial)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))

    def _monitor_candidates(self, trainer: pl.Trainer) -> dict[str, torch.Tensor]:
        """``{epoch}`` in checkpoint names counts from 1, like the progress lines."""
        candidates = super()._monitor_candidates(trainer)
        candidates["epoch"] = torch.tensor(trainer.current_epoch + 1)
        return candidates

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resuming into another run folder (the CLI makes a new one per run) keeps the best score: Lightning
        keeps only ``best_model_path`` then, so the first resumed epoch became "best" even when it was worse.
        The earlier folder's files are never deleted (Lightning removes only files under its own ``dirpath``)."""
        with warnings.catch_warnings():   # Lightning's "won't be reloaded" warning: here they are
            warnings.filterwarnings("ignore", message="The dirpath has changed")
            super().load_state_dict(state_dict)
        if state_dict.get("dirpath", self.dirpath) != self.dirpath:
            self.best_model_score = state_dict["best_model_score"]
            self.best_k_models = dict(state_dict.get("best_k_models", {}))
            self.kth_best_model_path = state_dict.get("kth_best_model_path", "")
            self.kth_value = state_dict.get("kth_value", self.kth_value)

    @staticmethod
    def _message(filepath: str, reason: str) -> str:
        return (f"checkpoint not written: {filepath} ({reason}); is {Path(filepath).parent} writable "
                f"and is there space left on its disk?")
