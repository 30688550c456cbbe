"""KNN label propagation: each unlabelled item takes a similarity-weighted vote of its k nearest
precisely-labelled neighbours (cosine), and keeps only the confident votes (noise-robust filter)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import NearestNeighbors


@dataclass
class Propagated:
    scores: np.ndarray   # [Q, T] similarity-weighted vote in [0, 1]
    targets: np.ndarray  # [Q, T] 1 where score >= threshold, else 0
    mask: np.ndarray     # [Q, T] 1 where the vote is confident: score >= threshold or <= 1 - threshold


def propagate(reference: np.ndarray, reference_labels: np.ndarray, queries: np.ndarray, k: int = 10,
              threshold: float = 0.8) -> Propagated:
    """``reference`` [R, D] embeddings with multi-hot ``reference_labels`` [R, T]; ``queries`` [Q, D]."""
    if len(reference) == 0 or len(queries) == 0:
        empty = np.zeros((len(queries), reference_labels.shape[1]), dtype=np.float32)
        return Propagated(empty, empty.copy(), empty.copy())
    k = min(k, len(reference))
    nn = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(reference)
    distance, index = nn.kneighbors(queries)
    similarity = np.clip(1.0 - distance, 0.0, None)        # cosine similarity, negatives ignored
    total = similarity.sum(1, keepdims=True)
    weights = similarity / np.clip(total, 1e-8, None)
    scores = np.einsum("qk,qkt->qt", weights, reference_labels[index]).astype(np.float32)
    confident = ((scores >= threshold) | (scores <= 1.0 - threshold)) & (total > 0)  # no similar neighbour: no vote
    return Propagated(scores, (scores >= threshold).astype(np.float32), confident.astype(np.float32))
