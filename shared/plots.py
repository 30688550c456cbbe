"""Matplotlib figures written next to the run (headless backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: str | Path,
                          title: str = "Confusion matrix (rows: true, columns: predicted; row-normalised)"):
    matrix = np.asarray(matrix, dtype=np.float64)
    norm = matrix / np.clip(matrix.sum(axis=1, keepdims=True), 1, None)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(max(5, 0.55 * n + 2), max(4, 0.5 * n + 1.5)))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
