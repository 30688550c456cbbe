"""Refresh the weak labels: at fit start (KNN in the frozen title-embedding + industry space, the
only meaningful space before training) and at the start of each later stage (KNN in the model's
fused embedding space, which has learnt what matters for the tags)."""

from __future__ import annotations

import time
from collections.abc import Sequence

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

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        resumed_late = trainer.current_epoch > 0 and any(e <= trainer.current_epoch for e in self.refresh_epochs)
        self.refresh(trainer, pl_module, use_model=resumed_late)

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
        pl_module.set_train_targets(torch.from_numpy(targets), torch.from_numpy(weights))
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
