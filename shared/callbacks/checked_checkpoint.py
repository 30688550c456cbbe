"""ModelCheckpoint that fails on the first checkpoint it could not write.

Lightning 2.6's atomic save (``lightning_fabric.utilities.cloud_io._atomic_save``) swallows a
``PermissionError``: with a read-only checkpoint folder the whole fit ran, no checkpoint was written
and the run ended in a misleading ``FileNotFoundError`` when the best checkpoint was tested. Here a
save that left no new file (or raised an ``OSError``) stops the run with one line naming the file.
A run resumed into another folder keeps the best score of the run it resumes (:meth:`load_state_dict`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

from shared.errors import EcomvisionError


class CheckpointSaveError(EcomvisionError):
    """A checkpoint file could not be written."""


def _file_state(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class CheckedCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` + a check, on the rank that writes, that the file was (re)written."""

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        before = _file_state(filepath) if trainer.is_global_zero else None
        try:
            super()._save_checkpoint(trainer, filepath)
        except OSError as exc:
            raise CheckpointSaveError(self._message(filepath, exc.strerror or str(exc))) from None
        if not trainer.is_global_zero:
            return
        after = _file_state(filepath)
        if after is None or after == before:
            raise CheckpointSaveError(self._message(filepath, "the save left no new file"))

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
