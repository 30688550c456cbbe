"""``python -m shared stopping variational_seg data=grabcut``: how the ADMM stopping rule and the
over-relaxation trade iterations for accuracy, on the validation split (README "Speed").

For every (relax, tol) of ``stopping.grid`` and every val image: the stopping k, the DSC against the
ground truth, and the DSC of the mask against the same model solved to convergence (tol 1e-7), i.e.
how much early stopping changes the answer. Writes ``stopping.json`` and prints a Markdown table.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from projects.variational_seg.data import build_dataset
from projects.variational_seg.params import resolve_params
from projects.variational_seg.pipeline import set_threads, to_working, upsample
from projects.variational_seg.protocol import score
from projects.variational_seg.seg_metrics import dice
from projects.variational_seg.solver import solve


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| relax | tol | iterations (mean / max) | val DSC | mask DSC vs converged (mean / min) |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['relax']} | {r['tol']:g} | {r['iterations']:.1f} / {r['iterations_max']} | "
                     f"{r['dice']:.4f} | {r['agreement']:.4f} / {r['agreement_min']:.4f} |")
    return "\n".join(lines)


def run(cfg: DictConfig) -> list[dict[str, Any]]:
    set_threads(cfg.working)
    max_side = int(cfg.working.max_side)
    base = resolve_params(cfg.model, cfg.data)
    dataset = build_dataset(cfg.data, cfg.markers, cfg.seed, split=cfg.stopping.split)
    images = []
    for i in range(len(dataset)):
        sample = dataset[i]
        x, m = to_working(sample["image"], sample["points"], max_side)
        converged = solve(x, m, base.with_(relax=1.0, tol=1e-7, max_iter=int(cfg.stopping.converged_max_iter)),
                          diagnostics=False)[0]
        images.append((sample, x, m, converged[0].numpy() > 0.5))
    rows = []
    for relax, tol in itertools.product(cfg.stopping.relax, cfg.stopping.tol):
        iters, dsc, agree = [], [], []
        for sample, x, m, ref in images:
            w, k, _ = solve(x, m, base.with_(relax=float(relax), tol=float(tol)), diagnostics=False)
            iters.append(int(k[0]))
            dsc.append(score(upsample(w[0], sample["image"].shape[:2]), sample)["dice"])
            agree.append(dice(w[0].numpy() > 0.5, ref))
        rows.append({"relax": float(relax), "tol": float(tol), "iterations": float(np.mean(iters)),
                     "iterations_max": int(max(iters)), "dice": float(np.mean(dsc)),
                     "agreement": float(np.mean(agree)), "agreement_min": float(min(agree))})
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stopping.json").write_text(json.dumps({"model": cfg.model.name, "split": cfg.stopping.split,
                                                   "n": len(images), "max_side": max_side,
                                                   "params": dict(vars(base)), "rows": rows},
                                                  indent=2) + "\n")
    print(table(rows))
    return rows
