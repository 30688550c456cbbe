"""Exact resume for everything that draws from the global RNGs (dropout, stochastic depth, samplers
without their own generator, DataLoader worker seeds).

Lightning 2.6 does not save the torch / numpy / ``random`` states in a checkpoint, and a saved state
would not be enough: between the save (at validation end) and the next training step the
uninterrupted run and the resumed one execute different code (the resumed one builds the model,
restores callbacks, ...), and anything drawing in between shifts the stream. Instead every training
epoch starts from RNG states derived from (seed, epoch) alone, so epoch ``e`` draws the same numbers
whether the run got there without a break or from ``last.ckpt`` of epoch ``e - 1``. The seed is kept
in the checkpoint: a resumed run continues the stream of the run it resumes.

On resume Lightning 2.6 creates the train iterator (and prefetches its first batch) while setting up
the data, before it gives the samplers their epoch (``set_epoch``) and before any epoch hook, and
does not create it again for the resumed epoch: a seeded sampler would replay epoch 0's order, and
a ``RandomSampler`` would draw its order from the RNG state of the model build. So on the first
epoch of a resumed fit this callback creates the iterator again, after ``set_epoch`` and the
re-seed, as Lightning does at the start of every uninterrupted epoch.

``configs/common/callbacks/default.yaml`` adds it to every project. Epoch-start hooks that run before
it must not draw from the global RNGs (multimodal_tagging's stage and weak-label callbacks, listed
first by that project's config, draw none: their loaders have their own generator).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch


def epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 32-bit seed for (seed, epoch): neighbouring seeds and epochs get unrelated streams."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch)]).generate_state(1)[0])


def seed_global_rngs(seed: int) -> None:
    """torch (CPU and every CUDA device), numpy's legacy global RNG and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def restart_train_iterator(trainer: pl.Trainer) -> None:
    """Create the train iterator again at the start of a resumed epoch, where Lightning 2.6 keeps the one it
    made before ``set_epoch`` (its condition: ``TrainingEpochLoop.on_run_start``)."""
    fit_loop = trainer.fit_loop
    resumed = fit_loop.is_resuming or fit_loop.epoch_loop.restarting
    fetcher = getattr(fit_loop, "_data_fetcher", None)
    if resumed and trainer.current_epoch > 0 and fetcher is not None:
        iter(fetcher)


class EpochSeeding(pl.Callback):
    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seed_global_rngs(epoch_seed(self.seed, trainer.current_epoch))
        restart_train_iterator(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.seed = int(state_dict.get("seed", self.seed))
