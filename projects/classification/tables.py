"""Aggregate the table runs (runs/classification/tables/<model>-s<seed>/metrics.json) into the
README's markdown tables: mean ± std over seeds of the val-selected checkpoint's test metrics.

    python -m projects.classification.tables [--runs runs/classification/tables]
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from pathlib import Path

from shared.readme_tables import tables_cli

TABLE3 = [("ResNet-50", "resnet50"), ("MobileNet-V3 (large 1.0)", "mobilenetv3_large_100"),
          ("EfficientNet-B0", "efficientnet_b0"), ("MSFF-EComNet (ours)", "msff_ecomnet")]
TABLE2 = [("base (plain 3x3, no attention)", "msff_base", "-", "-"), ("1: + MSP-Conv", "msff_msp", "✓", "-"),
          ("2: + IASM", "msff_iasm", "-", "✓"), ("MSFF-EComNet", "msff_ecomnet", "✓", "✓")]
METRICS = [("acc", "Accuracy"), ("precision", "Precision (macro)"), ("recall", "Recall (macro)"),
           ("f1", "F1 (macro)")]


def collect(runs: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(runs.glob("*-s*/metrics.json")):
        model = re.sub(r"-s\d+$", "", path.parent.name)
        out[model].append(json.loads(path.read_text()))
    return out


def cell(values: list[float]) -> str:
    pct = [100 * v for v in values]
    if len(pct) == 1:
        return f"{pct[0]:.1f}"
    return f"{statistics.mean(pct):.1f} ± {statistics.stdev(pct):.1f}"


def row(results: list[dict], which: str = "best") -> list[str]:
    return [cell([r[f"{which}/test/{m}"] for r in results]) for m, _ in METRICS]


def render(runs: Path) -> str:
    data = collect(runs)
    lines = ["**Table 3 analogue** (test split, val-selected checkpoint, mean ± std over seeds)", "",
             "| Model | " + " | ".join(h for _, h in METRICS) + " | Params (M) | seeds |",
             "|---|" + "---|" * (len(METRICS) + 2)]
    for label, key in TABLE3:
        if key in data:
            params = data[key][0]["best/test/params_m"]
            lines.append(f"| {label} | " + " | ".join(row(data[key])) + f" | {params:.2f} | {len(data[key])} |")
    lines += ["", "**Table 2 analogue** (ablation; same protocol)", "",
              "| Model | MSP-Conv | IASM | " + " | ".join(h for _, h in METRICS) + " | Params (M) | seeds |",
              "|---|---|---|" + "---|" * (len(METRICS) + 2)]
    for label, key, msp, iasm in TABLE2:
        if key in data:
            params = data[key][0]["best/test/params_m"]
            lines.append(f"| {label} | {msp} | {iasm} | " + " | ".join(row(data[key]))
                         + f" | {params:.2f} | {len(data[key])} |")
    lines += ["", "Final-epoch weights (not val-selected), accuracy / macro-F1:", "",
              "| Model | Accuracy | F1 (macro) |", "|---|---|---|"]
    for label, key in TABLE3 + [(t[0], t[1]) for t in TABLE2[:3]]:
        if key in data:
            lines.append(f"| {label} | {cell([r['final/test/acc'] for r in data[key]])} | "
                         f"{cell([r['final/test/f1'] for r in data[key]])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    tables_cli(__doc__ or "", "classification", render)


if __name__ == "__main__":
    main()
