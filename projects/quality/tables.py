"""Aggregate the table runs (``runs/quality/tables/<model>-s<seed>/metrics.json`` and
``runs/quality/tables/classical/metrics.json``) into the README tables: mean ± std over seeds of the
val-selected checkpoint's test metrics (the classical model: its single deterministic eval).

    python -m projects.quality.tables [--runs runs/quality/tables]
"""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
from collections import defaultdict
from pathlib import Path

from shared.data.degradations import DEFECTS
from shared.readme_tables import tables_cli

ROWS = [("Classical measures (no weights)", "classical"), ("Seed CNN (article)", "seed_cnn"),
        ("timm mobilenetv3_small_100, 3 heads", "timm_iqa")]
METRICS = [("acc", "Acc"), ("precision", "Prec"), ("recall", "Recall"), ("auroc", "AUROC"),
           ("defect_f1", "Defect F1"), ("srcc", "SRCC"), ("plcc", "PLCC"), ("plcc_logistic", "PLCC (logistic)")]
COMMANDS = {
    "classical": "make eval PROJECT=quality ARGS=\"experiment=bench_classical\"",
    "seed_cnn": "make train PROJECT=quality ARGS=\"experiment=bench_seed_cnn seed=<s>\"",
    "timm_iqa": "make train PROJECT=quality ARGS=\"experiment=bench_timm_iqa seed=<s>\"",
}


def collect(runs: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(runs.glob("*/metrics.json")):
        model = re.sub(r"-s\d+$", "", path.parent.name)
        result = json.loads(path.read_text())
        result["_seed"] = path.parent.name.rsplit("-s", 1)[-1] if "-s" in path.parent.name else "-"
        result["_epochs"] = _epochs(path.parent)
        out[model].append(result)
    return out


def _epochs(run: Path) -> int | None:
    log = run / "csv" / "metrics.csv"
    if not log.is_file():
        return None
    with log.open() as f:
        epochs = {int(r["epoch"]) for r in csv.DictReader(f) if r.get("epoch") and r.get("val/loss")}
    return max(epochs) + 1 if epochs else None


def value(result: dict, metric: str) -> float | None:
    for key in (f"best/test/{metric}", f"test/{metric}"):
        if key in result:
            return result[key]
    return None


def cell(values: list[float | None], pct: bool = True) -> str:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return "–"
    vals = [100 * v for v in vals] if pct else vals
    fmt = "{:.1f}" if pct else "{:.3f}"
    if len(vals) == 1:
        return fmt.format(vals[0])
    return f"{fmt.format(statistics.mean(vals))} ± {fmt.format(statistics.stdev(vals))}"


def render(runs: Path) -> str:
    data = collect(runs)
    lines = ["| Model | " + " | ".join(h for _, h in METRICS) + " | Params (M) | seeds | epochs run |",
             "|---|" + "---|" * (len(METRICS) + 3)]
    for label, key in ROWS:
        if key not in data:
            lines.append(f"| {label} | " + " | ".join("not run" for _ in METRICS) + " | | 0 | |")
            continue
        res = data[key]
        cells = [cell([value(r, m) for r in res], pct=m in ("acc", "precision", "recall", "defect_f1"))
                 for m, _ in METRICS]
        params = value(res[0], "params_m") or 0.0
        seeds = ", ".join(r["_seed"] for r in res) if key != "classical" else "deterministic"
        epochs = ", ".join(str(r["_epochs"]) for r in res if r["_epochs"]) if key != "classical" else "–"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {params:.2f} | {seeds} | {epochs} |")
    lines += ["", "Per-defect F1 (%, test split; – = the model family has no output for that defect):", "",
              "| Model | " + " | ".join(DEFECTS) + " |", "|---|" + "---|" * len(DEFECTS)]
    for label, key in ROWS:
        if key in data:
            lines.append(f"| {label} | " + " | ".join(cell([value(r, f"f1_{d}") for r in data[key]])
                                                       for d in DEFECTS) + " |")
    lines += ["", "Commands (one run folder per row and seed, `hydra.run.dir=runs/quality/tables/<model>-s<seed>`):",
              ""] + [f"* `{label}`: `{COMMANDS[key]}`" for label, key in ROWS]
    return "\n".join(lines) + "\n"


def main() -> None:
    tables_cli(__doc__ or "", "quality", render)


if __name__ == "__main__":
    main()
