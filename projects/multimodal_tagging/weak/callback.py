"""Refresh the weak labels: at fit start (KNN in the frozen title-embedding + industry space, the
only meaningful space before training) and at the start of each later stage (KNN in the model's
fused embedding space, which has learnt what matters for the tags).

The targets in use are saved in the checkpoint: a run resumed between two refreshes trains on the
targets of the last refresh (the model that computed them is gone), as the uninterrupted run does."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from projects.multimodal_tagging.weak.labels import build_targets


class WeakLabelRefresh(pl.Callback):
    def __init__(self, k: int = 10, threshold: float = 0.8, weak_weight: float = 0.3, use_knn: bool = True,
                 refresh_epochs: Sequence[int] = ()) -> None:
        self.k, self.threshold, self.weak_weight, self.use_knn = k, threshold, weak_weight, use_knn
        self.refresh_epochs = {int(e) for e in refresh_epochs}
        self.last_stats: dict[str, float] = {}
        self.targets: tuple[torch.Tensor, torch.Tensor] | None = None   # (targets, weights) in use
        self._restored = False

    def state_dict(self) -> dict[str, Any]:
        targets, weights = self.targets if self.targets is not None else (None, None)
        return {"targets": targets, "weights": weights, "stats": dict(self.last_stats)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict.get("targets") is not None:
            self.targets = (state_dict["targets"], state_dict["weights"])
            self.last_stats = dict(state_dict.get("stats", {}))
            self._restored = True

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._restored and self.targets is not None:   # resumed: the targets of the last refresh
            pl_module.set_train_targets(*self.targets)
            self._restored = False
            return
        self.refresh(trainer, pl_module, use_model=False)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch in self.refresh_epochs:
            self.refresh(trainer, pl_module, use_model=True)
        for name, value in self.last_stats.items():
            pl_module.log(name, value, on_step=False, on_epoch=True)

    def refresh(self, trainer: pl.Trainer, pl_module: pl.LightningModule, use_model: bool) -> None:
        dm = trainer.datamodule
        start = time.perf_counter()
        use_model = use_model and self.use_knn  # without KNN the embedding is not needed
        embedding = model_embeddings(pl_module, dm.embedding_dataloader()) if use_model else dm.weak.initial_embedding
        targets, weights, stats = build_targets(dm.weak, embedding, self.weak_weight, self.k, self.threshold,
                                                self.use_knn)
        self.targets = (torch.from_numpy(targets), torch.from_numpy(weights))
        pl_module.set_train_targets(*self.targets)
        stats["weak/refresh_s"] = time.perf_counter() - start
        self.last_stats = stats
        if trainer.is_global_zero:
            space = "model embedding" if use_model else "title embedding + industry"
            print(f"[weak labels] epoch {trainer.current_epoch}: KNN {'on' if self.use_knn else 'off'} ({space}); "
                  + ", ".join(f"{k.split('/')[1]} {v:.3f}" for k, v in stats.items()))


@torch.no_grad()
def model_embeddings(pl_module: pl.LightningModule, loader) -> np.ndarray:
    was_training = pl_module.training
    pl_module.eval()
    out = [pl_module.embed(pl_module.transfer_batch_to_device(b, pl_module.device, 0)).float().cpu() for b in loader]
    pl_module.train(was_training)
    return torch.cat(out).numpy()
