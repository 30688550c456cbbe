"""The first click of the field's protocol, studied alone (README "Clicks that spread"):

    python -m projects.variational_seg.scripts.first_click --study quality --subset all   # precision / recall
    python -m projects.variational_seg.scripts.first_click --study spread --subset val    # per-photo spread choice
    python -m projects.variational_seg.scripts.first_click --study edges --subset val     # edge distance vs inradius

* ``quality``: IoU, precision and recall of ``--model``'s mask after the first click (the full model: its
  cut-out and painted click included), per object and averaged;
* ``spread``: the colour solve of the first click with ``colour.spread`` 0 / 0.1 / 0.2 (working-size mask,
  upsampled bilinearly), three scores a per-photo choice could use (the mask's agreement with its own data
  term, the mean |F|, the mean Lab gradient on the mask's boundary), and the mean IoU of each fixed spread and
  of each score's choice;
* ``edges``: the object's inradius at the click (working px) against the click's distance to the nearest
  pixel of another colour (Lab distance > ``clicks.edge_tol``) and to the nearest Canny edge (50 / 150).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import cv2
import numpy as np
import torch
from scipy import ndimage

from projects.variational_seg.click_model import click_masks, click_options, click_segmenter_for
from projects.variational_seg.clicker import Click, iou, next_click
from projects.variational_seg.colour_term import colour_options, solve_colour, to_lab
from projects.variational_seg.markers import scale_points
from projects.variational_seg.params import resolve_params
from projects.variational_seg.pipeline import area_resize, image_tensor, upsample, working_size
from projects.variational_seg.protocol import ground_truth
from shared.config import compose, plain_dict
from shared.datasets.registry import dataset_from_config

SPREADS = (0.0, 0.1, 0.2)
SCORES = ("agreement", "mean |F|", "boundary gradient")


def first_click(gt: np.ndarray, ignore: np.ndarray | None) -> Click:
    nothing = np.zeros(gt.shape, dtype=bool)
    click = next_click(nothing, gt, ignore, nothing.copy())
    assert click is not None
    return click


def quality(sample: dict, gt: np.ndarray, ignore: np.ndarray | None, segment) -> list[float]:
    pred = segment(sample["image"], [first_click(gt, ignore)], None) > 0.5
    keep = np.ones(gt.shape, dtype=bool) if ignore is None else ~ignore
    hit = (pred & gt & keep).sum()
    return [iou(pred, gt, ignore), hit / max(1, (pred & keep).sum()), hit / max(1, (gt & keep).sum())]


def spread_masks(sample: dict, gt: np.ndarray, ignore: np.ndarray | None, model: dict, data: dict,
                 max_side: int) -> list[list[float]]:
    """Per spread: IoU, agreement, mean |F|, boundary gradient."""
    image, (h, w) = sample["image"], sample["image"].shape[:2]
    size = working_size(h, w, max_side)
    x = image_tensor(area_resize(image, size))
    lab = to_lab(x[0])
    copts, opts = click_options(model["clicks"]), colour_options(model["colour"])
    fg, _ = click_masks([first_click(gt, ignore)], (h, w), size, copts.radius, lab, copts.edge_tol, copts.min_working)
    gy, gx = np.gradient(lab.reshape(*size, 3), axis=(0, 1))
    gradient = np.sqrt((gx ** 2 + gy ** 2).sum(-1))
    rows = []
    for spread in SPREADS:
        u, _, log = solve_colour(x, torch.from_numpy(fg)[None], None, resolve_params(model, data),
                                 replace(opts, spread=spread))
        mask, fit = u[0].numpy() > 0.5, log["fit"]
        edge = mask ^ cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        rows.append([iou(upsample(u[0], (h, w)) > 0.5, gt, ignore), float(np.mean(np.where(mask, -fit, fit))),
                     float(np.mean(np.abs(fit))), float(gradient[edge].mean()) if edge.any() else 0.0])
    return rows


def edges(sample: dict, gt: np.ndarray, ignore: np.ndarray | None, model: dict, max_side: int) -> list[float]:
    image, (h, w) = sample["image"], sample["image"].shape[:2]
    size = working_size(h, w, max_side)
    small = area_resize(image, size)
    lab = to_lab(image_tensor(small)[0]).reshape(*size, 3)
    click = first_click(gt, ignore)
    r, c = scale_points(np.array([[click.row, click.col]]), (h, w), size)[0]
    other = np.linalg.norm(lab - lab[r, c], axis=-1) > click_options(model["clicks"]).edge_tol
    canny = cv2.Canny(cv2.cvtColor(np.clip(small, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY), 50, 150) > 0
    inside = area_resize(gt.astype(np.float32), size) > 0.5
    inradius = ndimage.distance_transform_edt(np.pad(inside, 1))[1:-1, 1:-1][r, c]
    return [float(inradius), float(ndimage.distance_transform_edt(~other)[r, c]),
            float(ndimage.distance_transform_edt(~canny)[r, c])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", choices=("quality", "spread", "edges"), required=True)
    parser.add_argument("--subset", default="val", help="GrabCut subset: val, test or all")
    parser.add_argument("--model", default="wbh_colour_fullres", help="model config (quality: the whole model)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    cfg = compose("variational_seg", ["experiment=noc", f"model={args.model}", f"data.options.subset={args.subset}"],
                  task="eval")
    model, max_side = plain_dict(cfg.model), int(cfg.working.max_side)
    dataset = dataset_from_config(cfg.data, str(cfg.data.split))
    segment = click_segmenter_for(model, plain_dict(cfg.module.data), max_side, int(cfg.markers.radius))
    rows = []
    for i in range(len(dataset)):
        sample = dataset[i]
        gt, ignore = ground_truth(sample)
        if args.study == "quality":
            rows.append(quality(sample, gt, ignore, segment))
            print(f"{sample['id']:>10}  IoU {rows[-1][0]:.3f}  precision {rows[-1][1]:.3f}  recall {rows[-1][2]:.3f}")
        elif args.study == "spread":
            rows.append(spread_masks(sample, gt, ignore, model, plain_dict(cfg.module.data), max_side))
            print(f"{sample['id']:>10}  " + "  |  ".join(
                f"spread {s}: IoU {r[0]:.2f}, " + ", ".join(f"{n} {v:.2f}" for n, v in zip(SCORES, r[1:]))
                for s, r in zip(SPREADS, rows[-1])))
        else:
            rows.append(edges(sample, gt, ignore, model, max_side))
            print(f"{sample['id']:>10}  inradius {rows[-1][0]:5.1f}  colour edge {rows[-1][1]:5.1f}  "
                  f"Canny edge {rows[-1][2]:5.1f}  (working px)")
    table = np.array(rows)
    if args.study == "quality":
        print(f"mean over {len(rows)}: IoU {table[:, 0].mean():.3f}  precision {table[:, 1].mean():.3f}  "
              f"recall {table[:, 2].mean():.3f}")
    elif args.study == "spread":
        fixed = "  ".join(f"spread {s}: {table[:, k, 0].mean():.3f}" for k, s in enumerate(SPREADS))
        chosen = "  ".join(f"by {n}: {table[np.arange(len(rows)), table[:, :, 1 + j].argmax(1), 0].mean():.3f}"
                           for j, n in enumerate(SCORES))
        print(f"mean first-click IoU over {len(rows)}: fixed {fixed};  chosen per photo {chosen}")
    else:
        print(f"ranges over {len(rows)}: inradius {table[:, 0].min():.0f}-{table[:, 0].max():.0f}, colour edge "
              f"{table[:, 1].min():.0f}-{table[:, 1].max():.0f}, Canny edge {table[:, 2].min():.0f}-"
              f"{table[:, 2].max():.0f} working px")


if __name__ == "__main__":
    main()
