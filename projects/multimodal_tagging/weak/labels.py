"""The per-item training targets and loss weights: precise labels where kept, weak labels elsewhere."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from projects.multimodal_tagging.weak.knn import propagate


@dataclass
class WeakTable:
    """Everything known about the train split before training (``tags`` used only where ``precise``)."""

    tags: np.ndarray          # [N, T] true multi-hot (read only for precise rows)
    precise: np.ndarray       # [N] bool, the items that keep their precise labels
    title_targets: np.ndarray  # [N, T]
    title_mask: np.ndarray     # [N, T]
    initial_embedding: np.ndarray  # [N, D] the space used before the model has learnt one
    labelled: np.ndarray | None = None  # [N] bool, items whose ``tags`` are known (None: all)


def build_targets(table: WeakTable, embedding: np.ndarray | None, weak_weight: float, k: int, threshold: float,
                  use_knn: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """(targets, weights, stats). Priority: precise label > title label > confident KNN vote > no loss."""
    precise = table.precise
    targets = table.title_targets.copy()
    known = table.title_mask.copy()
    if use_knn and embedding is not None and precise.any() and (~precise).any():
        voted = propagate(embedding[precise], table.tags[precise], embedding[~precise], k, threshold)
        fill = (known[~precise] == 0) & (voted.mask == 1)
        targets[~precise] = np.where(fill, voted.targets, targets[~precise])
        known[~precise] = np.maximum(known[~precise], fill.astype(np.float32))
    weights = known * weak_weight
    targets[precise], weights[precise] = table.tags[precise], 1.0
    weak = ~precise
    stats = {"weak/coverage": float(known[weak].mean()) if weak.any() else 1.0}
    scored = weak if table.labelled is None else weak & table.labelled   # hidden truth known: labels left out
    if scored.any() and known[scored].sum() > 0:  # diagnostic only: agreement of weak labels with the truth
        agree = (targets[scored] == table.tags[scored]) & (known[scored] == 1)
        stats["weak/accuracy"] = float(agree.sum() / known[scored].sum())
    return targets.astype(np.float32), weights.astype(np.float32), stats
