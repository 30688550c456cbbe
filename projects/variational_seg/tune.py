"""``python -m shared tune variational_seg data=grabcut model=<wbh|tv|rci>``: grid-search (lam, theta)
on the validation split, mean DSC as the criterion (spec section 7, "parameter fairness").

Each image is solved once per grid point in one batch (the four scalar parameters are per-sample).
Writes ``tune.json`` (grid, per-point mean DSC and iterations, the choice) to the run folder; copy
the choice into ``configs/variational_seg/model/<model>.yaml`` under ``tuned.<data name>``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from projects.variational_seg.colour_term import ColourOptions
from projects.variational_seg.data import build_dataset
from projects.variational_seg.methods import segmenter_for
from projects.variational_seg.params import resolve_params
from projects.variational_seg.pipeline import segment, set_threads
from projects.variational_seg.protocol import score
from shared.errors import ConfigError


def grid_points(grid: dict[str, list[float]]) -> list[dict[str, float]]:
    keys = sorted(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def point_model(model: dict[str, Any], point: dict[str, float]) -> dict[str, Any]:
    """The model config with one grid point applied: anchor options, colour options (``colour.<key>``
    or a ColourOptions field) or solver parameters."""
    out = {**model, "params": dict(model.get("params") or {}), "colour": dict(model.get("colour") or {}),
           "options": dict(model.get("options") or {})}
    colour_keys = {f.name for f in fields(ColourOptions)}
    for key, value in point.items():
        bare = key.removeprefix("colour.")
        if model.get("kind") == "anchor":
            out["options"][key] = value
        elif model.get("data_term") == "colour" and (key.startswith("colour.") or bare in colour_keys):
            out["colour"][bare] = value
        else:
            out["params"][key] = value
    return out


def row_name(markers: dict[str, Any]) -> str:
    """k3, scribbles_set1, scribbles_set2_bg, ..."""
    if markers["source"] == "simulated":
        return f"k{markers['k']}"
    return markers["source"] + ("_bg" if markers.get("background") else "")


def run_per_point(cfg: DictConfig, points: list[dict[str, float]], grid: dict) -> dict[str, Any]:
    """Anchors and the colour model: every grid point solved image by image (no per-sample batch),
    criterion the mean val DSC over the marker settings ``tune.rows`` (each a ``markers`` override, e.g.
    ``{k: 1}`` or ``{source: scribbles_set2, background: true}``; default: ``tune.ks`` clicks, else
    ``markers``)."""
    model = OmegaConf.to_container(cfg.model, resolve=True)
    base = OmegaConf.to_container(cfg.markers)
    rows = [dict(r) for r in (cfg.tune.get("rows") or [{"k": int(k)} for k in (cfg.tune.get("ks") or [cfg.markers.k])])]
    names = [row_name({**base, **r}) for r in rows]
    sets = [build_dataset(cfg.data, {**base, **r}, cfg.seed, split=cfg.tune.split) for r in rows]
    ks = names
    dsc = np.zeros((len(points), len(rows)))
    for i, point in enumerate(points):
        run_model = segmenter_for(point_model(model, point), cfg.data, int(cfg.working.max_side),
                                  int(cfg.markers.radius), tuned=False)
        for j, dataset in enumerate(sets):
            samples = [dataset[n] for n in range(len(dataset))]
            segs = [run_model([s["image"]], [s["points"]], [s.get("background")])[0] for s in samples]
            dsc[i, j] = np.mean([score(seg.prob, s)["dice"] for seg, s in zip(segs, samples)])
        print(f"[{i + 1}/{len(points)}] {point}: val DSC " + " ".join(f"{k} {d:.4f}" for k, d in zip(ks, dsc[i]))
              + f"  mean {dsc[i].mean():.4f}", flush=True)
    best = int(np.argmax(dsc.mean(1)))
    return {"model": cfg.model.name, "data": cfg.data.name, "split": cfg.tune.split, "grid": grid, "rows": ks,
            "markers": OmegaConf.to_container(cfg.markers), "max_side": int(cfg.working.max_side),
            "points": [{**p, **{f"dice/{k}": round(float(d), 4) for k, d in zip(ks, dsc[i])},
                        "dice": round(float(dsc[i].mean()), 4)} for i, p in enumerate(points)],
            "chosen": points[best], "chosen_dice": round(float(dsc[best].mean()), 4)}


def write(cfg: DictConfig, result: dict[str, Any]) -> dict[str, Any]:
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tune.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"chosen for {cfg.model.name}: {result['chosen']} (val mean DSC {result['chosen_dice']:.4f}) -> "
          f"{out / 'tune.json'}")
    return result


def run(cfg: DictConfig) -> dict[str, Any]:
    if cfg.model.kind not in ("variational", "anchor"):
        raise SystemExit("tune applies to the variational models and the anchors, not the U-Net")
    if cfg.model.kind == "anchor" or cfg.model.get("data_term") == "colour":
        set_threads(cfg.working)
        grid = OmegaConf.to_container(cfg.tune.grid, resolve=True)
        return write(cfg, run_per_point(cfg, grid_points(grid), grid))  # type: ignore[arg-type]
    set_threads(cfg.working)
    grid = OmegaConf.to_container(cfg.tune.grid, resolve=True)
    points = grid_points(grid)  # type: ignore[arg-type]
    base = resolve_params(cfg.model, cfg.data, tuned=False)
    preset = cfg.model.get("params") or {}
    switched_off = sorted(k for k in grid if k in preset and not preset[k])
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
                       int(cfg.working.max_side), marker_radius=int(cfg.markers.radius))
        for i, seg in enumerate(segs):
            dsc[i, j], iters[i, j] = score(seg.prob, sample)["dice"], seg.iterations
        print(f"[{j + 1}/{len(dataset)}] {sample['id']}: best DSC {dsc[:, j].max():.3f}", flush=True)
    best = int(np.argmax(dsc.mean(1)))
    result = {"model": cfg.model.name, "data": cfg.data.name, "split": cfg.tune.split, "grid": grid,
              "markers": OmegaConf.to_container(cfg.markers), "solver": OmegaConf.to_container(cfg.data.solver),
              "max_side": int(cfg.working.max_side), "ids": [dataset.base.names[j] for j in range(len(dataset))]
              if hasattr(dataset.base, "names") else None,
              "points": [{**p, "dice": round(float(dsc[i].mean()), 4), "iterations": float(iters[i].mean())}
                         for i, p in enumerate(points)],
              "chosen": points[best], "chosen_dice": round(float(dsc[best].mean()), 4)}
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tune.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"chosen for {cfg.model.name}: {points[best]} (val mean DSC {dsc[best].mean():.4f}) -> {out / 'tune.json'}")
    return result
