"""``python -m shared tune variational_seg data=grabcut model=<wbh|tv|rci>``: grid-search (lam, theta)
on the validation split, mean DSC as the criterion (spec section 7, "parameter fairness").

Each image is solved once per grid point in one batch (the four scalar parameters are per-sample).
Writes ``tune.json`` (grid, per-point mean DSC and iterations, the choice) to the run folder; copy
the choice into ``configs/variational_seg/data/<data>.yaml`` under ``tuned.<model>``.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from projects.variational_seg.data import build_dataset
from projects.variational_seg.params import PRESETS, resolve_params
from projects.variational_seg.pipeline import segment, set_threads
from projects.variational_seg.protocol import score
from shared.errors import ConfigError


def grid_points(grid: dict[str, list[float]]) -> list[dict[str, float]]:
    keys = sorted(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def run(cfg: DictConfig) -> dict[str, Any]:
    if cfg.model.kind != "variational":
        raise SystemExit("tune applies to the variational models (wbh, tv, rci, ablations)")
    set_threads(cfg.working)
    grid = OmegaConf.to_container(cfg.tune.grid, resolve=True)
    points = grid_points(grid)  # type: ignore[arg-type]
    base = resolve_params(cfg.model, cfg.data.solver, {})
    switched_off = sorted(k for k in grid if k in PRESETS[cfg.model.name] and not PRESETS[cfg.model.name][k])
    if switched_off:
        raise ConfigError(f"model {cfg.model.name!r} switches off {switched_off}; tune other keys, e.g. "
                          f"tune.grid='{{lam:[2.0,5.0,10.0],alpha0:[0.5,1.0,2.0]}}'")
    dataset = build_dataset(cfg.data, cfg.markers, cfg.seed, split=cfg.tune.split)
    dsc = np.zeros((len(points), len(dataset)))
    iters = np.zeros_like(dsc)
    for j in range(len(dataset)):
        sample = dataset[j]
        per = {k: [p[k] for p in points] for k in points[0]}
        segs = segment([sample["image"]] * len(points), [sample["points"]] * len(points), base.with_(**per),
                       int(cfg.working.max_side))
        for i, seg in enumerate(segs):
            dsc[i, j], iters[i, j] = score(seg.prob, sample)["dsc"], seg.iterations
        print(f"[{j + 1}/{len(dataset)}] {sample['id']}: best DSC {dsc[:, j].max():.3f}", flush=True)
    best = int(np.argmax(dsc.mean(1)))
    result = {"model": cfg.model.name, "data": cfg.data.name, "split": cfg.tune.split, "grid": grid,
              "markers": OmegaConf.to_container(cfg.markers), "solver": OmegaConf.to_container(cfg.data.solver),
              "max_side": int(cfg.working.max_side), "ids": [dataset.base.names[j] for j in range(len(dataset))]
              if hasattr(dataset.base, "names") else None,
              "points": [{**p, "mean_dsc": round(float(dsc[i].mean()), 4), "mean_iterations": float(iters[i].mean())}
                         for i, p in enumerate(points)],
              "chosen": points[best], "chosen_mean_dsc": round(float(dsc[best].mean()), 4)}
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tune.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"chosen for {cfg.model.name}: {points[best]} (val mean DSC {dsc[best].mean():.4f}) -> {out / 'tune.json'}")
    return result
