"""``python -m shared figure variational_seg data=grabcut``: overlays of the models on a few test images
(green = prediction, outline red = ground truth, yellow dots = markers) -> ``figure.output``."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from projects.variational_seg.data import build_dataset  # noqa: E402
from projects.variational_seg.methods import model_config, segmenter_for  # noqa: E402
from projects.variational_seg.pipeline import set_threads  # noqa: E402
from projects.variational_seg.protocol import ground_truth, score  # noqa: E402
from projects.variational_seg.seg_metrics import boundary  # noqa: E402

MODELS = ("wbh_colour", "wbh", "cv2_grabcut", "random_walker")
LABELS = {"wbh_colour": "Shipped (WBH + colour)", "wbh": "Paper (WBH)", "cv2_grabcut": "cv2.grabCut",
          "random_walker": "random_walker"}


def overlay(image: np.ndarray, pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    out = image.astype(np.float32) / 255.0
    out[pred] = 0.55 * out[pred] + 0.45 * np.array([0.1, 0.9, 0.2])
    edge = boundary(gt)
    edge = edge | np.roll(edge, 1, 0) | np.roll(edge, 1, 1)
    out[edge] = (1.0, 0.1, 0.1)
    return out


def run(cfg: DictConfig) -> Path:
    set_threads(cfg.working)
    dataset = build_dataset(cfg.data, cfg.markers, cfg.seed, split=cfg.data.split)
    names = getattr(dataset.base, "names", [])
    ids = [str(i) for i in cfg.figure.ids if str(i) in names] or names[:4]
    samples = [dataset[names.index(i)] for i in ids]
    fig, axes = plt.subplots(len(samples), 1 + len(MODELS), figsize=(3.2 * (1 + len(MODELS)), 2.6 * len(samples)),
                             squeeze=False)
    for row, sample in enumerate(samples):
        gt, _ = ground_truth(sample)
        axes[row, 0].imshow(sample["image"])
        axes[row, 0].scatter(sample["points"][:, 1], sample["points"][:, 0], s=18, c="yellow", edgecolors="black")
        axes[row, 0].set_title(f"{sample['id']}: input + markers", fontsize=8)
        for col, name in enumerate(MODELS, start=1):
            run_model = segmenter_for(model_config(name), cfg.data, int(cfg.working.max_side),
                                      int(cfg.markers.radius))
            seg = run_model([sample["image"]], [sample["points"]], [sample.get("background")])[0]
            s = score(seg.prob, sample)
            axes[row, col].imshow(overlay(sample["image"], seg.prob > 0.5, gt))
            axes[row, col].set_title(f"{LABELS[name]}: DSC {s['dice']:.3f}, HD {s['hd']:.0f}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    out = Path(cfg.figure.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    print(f"figure -> {out}")
    return out
