"""Before / after figure of the full-resolution cut-out (README "Full-resolution cut-out"):

    python -m projects.variational_seg.scripts.cutout_figure --image 106024 --clicks 5 \
        --out projects/variational_seg/figures/cutout_before_after.png

Each model (before: ``wbh_colour``, the working-size mask upsampled bilinearly; after: ``wbh_colour_fullres``)
gets ``--clicks`` clicks of the field's simulator on one GrabCut photo; the figure shows both cut-outs over
the photo (green = mask, red = ground-truth outline, dots = clicks: green positive, magenta negative) and a
zoom of the area where they differ most, with the full-resolution IoU and boundary F of each.
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from scipy import ndimage  # noqa: E402

from projects.variational_seg.boundary import boundary_f, outline  # noqa: E402
from projects.variational_seg.click_model import click_segmenter_for  # noqa: E402
from projects.variational_seg.methods import model_config  # noqa: E402
from projects.variational_seg.noc import run_clicks  # noqa: E402
from projects.variational_seg.protocol import ground_truth  # noqa: E402
from shared.datasets.registry import dataset_from_config  # noqa: E402
from shared.paths import REPO_ROOT  # noqa: E402

MODELS = {"wbh_colour": "before: wbh_colour (160-px mask, bilinear)",
          "wbh_colour_fullres": "after: wbh_colour_fullres (full-resolution cut-out)"}


def overlay(image: np.ndarray, mask: np.ndarray, gt: np.ndarray) -> np.ndarray:
    out = image.astype(np.float32) / 255.0
    out[mask] = 0.55 * out[mask] + 0.45 * np.array([0.1, 0.9, 0.2])
    out[ndimage.binary_dilation(outline(gt))] = (0.9, 0.1, 0.1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image", default="106024", help="GrabCut image id")
    parser.add_argument("--clicks", type=int, default=5)
    parser.add_argument("--out", default=str(REPO_ROOT / "projects/variational_seg/figures/cutout_before_after.png"))
    args = parser.parse_args()
    data = OmegaConf.load(REPO_ROOT / "configs/variational_seg/data/grabcut.yaml")
    data.root = str(REPO_ROOT.parent / "shared" / "data")
    dataset = dataset_from_config(data, "test", subset="all")
    sample = next(dataset[i] for i in range(len(dataset)) if str(dataset[i]["id"]) == args.image)
    gt, ignore = ground_truth(sample)
    image = sample["image"]
    results = {}
    for name in MODELS:
        segment = click_segmenter_for(model_config(name), OmegaConf.to_container(data), int(data.max_side), 5)
        run = run_clicks(segment, image, gt, ignore, args.clicks)
        prob = None
        for k in range(len(run.clicks)):   # the mask after the last click (run_clicks keeps only scores)
            prob = segment(image, run.clicks[:k + 1], prob)
        results[name] = (prob > 0.5, run)
    diff = ndimage.uniform_filter((results["wbh_colour"][0] ^ results["wbh_colour_fullres"][0]).astype(float), 41)
    cy, cx = np.unravel_index(int(np.argmax(diff)), diff.shape)
    half = max(40, min(image.shape[:2]) // 5)
    top = int(np.clip(cy - half, 0, image.shape[0] - 2 * half))
    left = int(np.clip(cx - half, 0, image.shape[1] - 2 * half))
    fig, axes = plt.subplots(2, 2, figsize=(10, 8.5))
    for col, (name, title) in enumerate(MODELS.items()):
        mask, run = results[name]
        view = overlay(image, mask, gt)
        score = f"IoU {run.ious[-1]:.3f}, boundary F {boundary_f(mask, gt, ignore):.3f} after {args.clicks} clicks"
        axes[0, col].imshow(view)
        for c in run.clicks:
            axes[0, col].plot(c.col, c.row, "o", ms=5, mec="k", color="#1ed23c" if c.positive else "#e020e0")
        axes[0, col].add_patch(plt.Rectangle((left, top), 2 * half, 2 * half, fill=False, ec="yellow", lw=1.5))
        axes[0, col].set_title(f"{title}\n{score}", fontsize=9)
        axes[1, col].imshow(view[top:top + 2 * half, left:left + 2 * half], interpolation="nearest")
        axes[1, col].set_title("zoom (yellow box)", fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"figure -> {args.out}")


if __name__ == "__main__":
    main()
