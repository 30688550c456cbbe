"""The NoC eval mode (``experiment=noc``; ``make sweep PROJECT=variational_seg SWEEP=noc``): every object of
``data.split`` through ``noc.max_clicks`` simulated clicks (``noc.run_clicks``), then

* ``per_image.csv``: per object NoC@X, the IoU after each click, CPU seconds per click, the clicks;
* ``metrics.json``: for each ``noc.subsets`` entry ``<prefix>: <subset>`` (experiment=noc: ``all`` = every
  object of the run, the 50 GrabCut images; ``test`` = its 40 test images) ``<prefix>/noc85``, ``/noc90``,
  ``/nof85``, ``/nof90``, ``/iou_at_1..20``, ``/bf_at_1|5|10|20`` (boundary F-score, full resolution),
  ``/s_per_click``, ``/worse_share``, ``/n``;
  ``negative_clicks_used`` (1 or 0);
* ``summary.json``: the same with the settings.

The objects of a subset are those of the run whose ids the data holds with its ``subset`` option set
to the entry (null: all of them), so one run over the 50 images gives the 40-image numbers too.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from projects.variational_seg.noc import (
    ClickRun,
    ClickSegmenter,
    from_points,
    run_clicks,
    summarise,
    uses_negative_clicks,
)
from projects.variational_seg.pipeline import set_threads
from projects.variational_seg.protocol import ground_truth
from shared.config import plain_dict
from shared.datasets.registry import dataset_from_config
from shared.errors import ConfigError
from shared.tasks import finished_results, write_metrics

# a binary mask saved as 0 / 255 marks nothing: 255 is the folder format's "ignore" (shared/datasets/mask_folder.py)
EMPTY_MASK_HINT = ("a mask's foreground is any label but 0 and 255 (255 = ignore), so a 0 / 255 mask has none: "
                   "save the object as 1 (mask // 255)")


def click_segmenter(cfg: DictConfig) -> ClickSegmenter:
    """The configured model as a ``ClickSegmenter`` (model=unet: ``ckpt_path``, or in a sweep with
    ``unet_training_root`` the net fitted once per training settings, as the anchors table's U-Net rows are; a model
    with a ``clicks`` block: the incremental click model of ``click_model``)."""
    model = plain_dict(cfg.model)
    if model.get("kind") == "unet":
        from projects.variational_seg.unet import load_unet, load_unet_module
        from projects.variational_seg.unet_fit import fit_unet

        fitted = not cfg.get("ckpt_path") and cfg.get("unet_training_root")
        return unet_click_segmenter(load_unet(fit_unet(cfg)[0]) if fitted else load_unet_module(cfg), model)
    from projects.variational_seg.click_model import click_segmenter_for

    return click_segmenter_for(model, plain_dict(cfg.module.data), int(cfg.working.max_side),
                               int(cfg.markers.radius), strict=False)


def unet_click_segmenter(module: Any, model: Mapping[str, Any]) -> ClickSegmenter:
    """A trained U-Net (``unet.load_unet``) as a ``ClickSegmenter``: it gets the clicks' positions
    (``noc.from_points``; the negative ones dropped, it has no background input)."""
    from projects.variational_seg.unet import unet_segmenter

    segmenter = unet_segmenter(module)

    def segment(image: np.ndarray, positive: np.ndarray, negative: np.ndarray | None) -> np.ndarray:
        return segmenter([image], [positive], [negative])[0].prob
    return from_points(segment, uses_negative_clicks(model))


def subset_ids(data: DictConfig, subset: str) -> set[str]:
    """The object ids of the configured data with its ``subset`` option set to ``subset`` (GrabCut: all,
    val, test)."""
    dataset = dataset_from_config(data, str(data.split), subset=subset)
    names = getattr(dataset, "names", None)
    return {str(n) for n in names} if names is not None else {str(dataset[i]["id"]) for i in range(len(dataset))}


def format_clicks(run: ClickRun) -> str:
    """'r,c,+;r,c,-' record of the clicks (row, column at image resolution, positive / negative)."""
    return ";".join(f"{c.row},{c.col},{'+' if c.positive else '-'}" for c in run.clicks)


def image_row(name: str, run: ClickRun, thresholds: list[float], max_clicks: int) -> dict[str, Any]:
    stats = summarise([run.ious], thresholds, max_clicks, [run.cpu_seconds], [run.worse], [run.boundary])
    row: dict[str, Any] = {"id": name}
    row.update({k: int(stats[k]) for k in stats if k.startswith(("noc", "nof"))})
    row.update({f"iou_{k}": run.ious[k - 1] for k in range(1, max_clicks + 1)})
    row.update({f"bf_{k}": value for k, value in run.boundary.items()})
    row.update({"s_per_click": stats.get("s_per_click", 0.0), "worse": run.worse,
                "positive": sum(c.positive for c in run.clicks),
                "negative": sum(not c.positive for c in run.clicks), "clicks": format_clicks(run)})
    return row


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()})


def subset_metrics(cfg: DictConfig, runs: Mapping[str, ClickRun], thresholds: list[float],
                   max_clicks: int) -> dict[str, dict[str, float]]:
    """``{prefix: summary}`` for every ``noc.subsets`` entry (the objects of the run that its subset holds)."""
    out = {}
    for prefix, subset in plain_dict(cfg.noc.subsets).items():
        ids = set(runs) if subset is None else subset_ids(cfg.data, str(subset))
        chosen = [runs[i] for i in runs if i in ids]
        if not chosen:   # e.g. the test subset of a run over val: nothing to report under that prefix
            print(f"note: noc.subsets.{prefix}: subset {subset!r} holds none of the {len(runs)} evaluated objects "
                  f"(left out)")
            continue
        out[prefix] = summarise([r.ious for r in chosen], thresholds, max_clicks,
                                [r.cpu_seconds for r in chosen], [r.worse for r in chosen],
                                [r.boundary for r in chosen])
    return out


def run(cfg: DictConfig) -> dict[str, Any]:
    """The NoC protocol for the configured model over ``data.split``."""
    run_dir = Path(cfg.paths.output_dir)
    done = finished_results(cfg, run_dir)
    if done is not None:
        print(f"skip {run_dir} (done)")
        return done
    set_threads(cfg.working)
    max_clicks, thresholds = int(cfg.noc.max_clicks), [float(t) for t in cfg.noc.thresholds]
    negatives = uses_negative_clicks(plain_dict(cfg.model)) or plain_dict(cfg.model).get("clicks") is not None
    if not negatives:
        print(f"note: model={cfg.model.name} cannot use negative clicks (no background input): they are placed "
              f"by the protocol but not passed to it")
    segment = click_segmenter(cfg)
    dataset = dataset_from_config(cfg.data, str(cfg.data.split))
    runs: dict[str, ClickRun] = {}
    rows, skipped = [], []
    for i in range(len(dataset)):
        sample = dataset[i]
        gt, ignore = ground_truth(sample)
        name = str(sample["id"])
        if not gt.any():
            skipped.append(name)
            continue
        runs[name] = run = run_clicks(segment, sample["image"], gt, ignore, max_clicks)
        rows.append(image_row(name, run, thresholds, max_clicks))
        print(f"[{i + 1}/{len(dataset)}] {name}: IoU after 1 / 5 / {max_clicks} clicks {run.ious[0]:.3f} / "
              f"{run.ious[min(4, max_clicks - 1)]:.3f} / {run.ious[-1]:.3f}, NoC@90 {rows[-1].get('noc90', '-')}")
    if skipped:
        print(f"note: {len(skipped)} object(s) left out, their masks mark no foreground ({', '.join(skipped[:5])}"
              f"{', ...' if len(skipped) > 5 else ''}); {EMPTY_MASK_HINT}")
    if not runs:
        raise ConfigError(f"no objects were evaluated ({len(skipped)} skipped: empty ground truth); {EMPTY_MASK_HINT}")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_csv(run_dir / "per_image.csv", rows)
    subsets = subset_metrics(cfg, runs, thresholds, max_clicks)
    if not subsets:
        raise ConfigError(f"noc.subsets: none holds any of the {len(runs)} evaluated objects; give one as null "
                          f"(every object of the run)")
    summary = {"data": cfg.data.name, "split": cfg.data.split, "model": cfg.model.name, "max_clicks": max_clicks,
               "thresholds": thresholds, "max_side": int(cfg.working.max_side), "negative_clicks_used": negatives,
               "skipped_empty_gt": skipped, "subsets": subsets}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    metrics: dict[str, Any] = {"negative_clicks_used": int(negatives), "max_clicks": max_clicks}
    for prefix, values in subsets.items():
        metrics.update({f"{prefix}/{k}": v for k, v in values.items()})
    write_metrics(run_dir, metrics)
    for prefix, values in subsets.items():
        curve = " / ".join(f"{values[f'iou_at_{k}']:.3f}" for k in (1, 5, 10, 20) if f"iou_at_{k}" in values)
        print(f"{cfg.model.name} on {cfg.data.name} {prefix} ({values['n']} objects): "
              + "  ".join(f"NoC@{round(100 * t)} {values[f'noc{round(100 * t)}']:.2f} "
                          f"NoF@{round(100 * t)} {values[f'nof{round(100 * t)}']}" for t in thresholds)
              + f"  IoU after 1/5/10/20 clicks {curve}  {values.get('s_per_click', float('nan')):.3f} CPU s per click")
    print(f"per-image CSV -> {run_dir / 'per_image.csv'}")
    return metrics
