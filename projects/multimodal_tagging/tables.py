"""Aggregate the table runs (runs/multimodal_tagging/tables/<row>-s<seed>/metrics.json) into the README's
markdown tables (mean ± std over seeds, val-selected checkpoint) and the macro-F1 vs precise-fraction plot.

    python -m projects.multimodal_tagging.tables [--runs runs/multimodal_tagging/tables]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path

from shared.data.fashion_tags import TAGS
from shared.paths import REPO_ROOT
from shared.plots import plt
from shared.readme_tables import write_between_markers

HERE = Path(__file__).resolve().parent
CMD = "projects/multimodal_tagging/scripts/run_tables.sh"
BASE = ("OMP_NUM_THREADS=1 make train PROJECT=multimodal_tagging ARGS=\"experiment=fashion_tags {args} seed=<s> "
        "logger=csv callbacks.progress_bar=null paths.output_dir=runs/multimodal_tagging/tables/{row}-s<s>\"")
ROWS = [("full", "dual attention + industry + title & KNN weak labels (ours)", "model=dual_attention"),
        ("no_industry", "without industry one-hot", "model=no_industry"),
        ("concat", "concat fusion instead of dual attention", "model=concat"),
        ("no_knn", "without KNN propagation (title weak labels only)", ""),
        ("image_only", "image only", "model=image_only"),
        ("text_only", "title only", "model=text_only")]
CURVE = [(0.05, "frac0.05"), (0.10, "full"), (0.25, "frac0.25"), (1.0, "frac1.0")]
METRICS = [("f1_macro", "macro-F1"), ("f1_weighted", "weighted-F1"), ("f1_micro", "micro-F1"),
           ("precision_macro", "macro-P"), ("recall_macro", "macro-R")]


def collect(runs: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(runs.glob("*-s*/metrics.json")):
        out[re.sub(r"-s\d+$", "", path.parent.name)].append(json.loads(path.read_text()))
    return out


def values(results: list[dict], key: str, which: str = "best") -> list[float]:
    return [100 * r[f"{which}/test/{key}"] for r in results if f"{which}/test/{key}" in r]


def cell(v: list[float]) -> str:
    if not v:
        return "–"
    return f"{v[0]:.1f}" if len(v) == 1 else f"{statistics.mean(v):.1f} ± {statistics.stdev(v):.1f}"


def render(runs: Path) -> str:
    data = collect(runs)
    head = "| row | " + " | ".join(h for _, h in METRICS) + " | seeds | command (per seed) |"
    sep = "|---|" + "---|" * (len(METRICS) + 2)
    lines = ["**Ablations at 10% precise labels** (fashion_tags test split, 442 products, precise labels; "
             "val-selected checkpoint; mean ± std over seeds; %)", "", head, sep]
    for key, label, args in ROWS:
        if key in data:
            cmd = BASE.format(args=args, row=key) if key != "no_knn" else BASE.replace(
                "experiment=fashion_tags {args}", "experiment=fashion_tags_no_knn").format(row=key)
            lines.append(f"| {label} | " + " | ".join(cell(values(data[key], m)) for m, _ in METRICS)
                         + f" | {len(data[key])} | `{cmd}` |")
        else:
            lines.append(f"| {label} | " + " | ".join("not measured" for _ in METRICS) + " | 0 | – |")
    if "full" in data:
        lines += ["", "**Per-tag F1, full model at 10% precise labels** (same runs; %)", "",
                  "| tag | F1 | tag | F1 |", "|---|---|---|---|"]
        per = [(t, cell(values(data["full"], f"f1_tag/{t}"))) for t in TAGS]
        half = (len(per) + 1) // 2
        for a, b in zip(per[:half], per[half:] + [("", "")]):
            lines.append(f"| {a[0]} | {a[1]} | {b[0]} | {b[1]} |")
    lines += ["", "**Macro-F1 vs fraction of precise labels** (full model; ![plot](figures/f1_vs_fraction.png))", "",
              "| precise fraction | macro-F1 | weighted-F1 | seeds | command |", "|---|---|---|---|---|"]
    for frac, key in CURVE:
        if key in data:
            lines.append(f"| {frac:.0%} | {cell(values(data[key], 'f1_macro'))} | "
                         f"{cell(values(data[key], 'f1_weighted'))} | {len(data[key])} | "
                         f"`{BASE.format(args=f'weak.precise_fraction={frac}', row=key)}` |")
        else:
            lines.append(f"| {frac:.0%} | not measured (CPU time) | – | 0 | – |")
    lines += ["", "Final-epoch weights (not val-selected), macro-F1: " + ", ".join(
        f"{key} {cell(values(data[key], 'f1_macro', 'final'))}" for key, _, _ in ROWS if key in data) + "."]
    return "\n".join(lines) + "\n"


def plot(runs: Path, path: Path) -> Path | None:
    data = collect(runs)
    pts = [(f, values(data[k], "f1_macro"), values(data[k], "f1_weighted")) for f, k in CURVE if k in data]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for idx, label in ((1, "macro-F1"), (2, "weighted-F1")):
        xs = [100 * p[0] for p in pts]
        ys = [statistics.mean(p[idx]) for p in pts]
        err = [statistics.stdev(p[idx]) if len(p[idx]) > 1 else 0 for p in pts]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=label)
        for x, p in zip(xs, pts):
            ax.scatter([x] * len(p[idx]), p[idx], s=8, color="grey", zorder=3)
            if idx == 1:
                ax.annotate(f"n={len(p[1])}", (x, statistics.mean(p[1])), textcoords="offset points",
                            xytext=(4, -12), fontsize=7)
    ax.set_xscale("log")
    ax.set_xticks([5, 10, 25, 100], ["5%", "10%", "25%", "100%"])
    ax.set_xlabel("precisely labelled share of the train split")
    ax.set_ylabel("test F1 (%)")
    ax.set_title("fashion_tags: F1 vs precise labels (mean ± std, dots: seeds)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=Path, default=REPO_ROOT / "runs" / "multimodal_tagging" / "tables")
    parser.add_argument("--readme", type=Path, default=HERE / "README.md")
    args = parser.parse_args()
    table = render(args.runs)
    plot(args.runs, HERE / "figures" / "f1_vs_fraction.png")
    write_between_markers(args.readme, table)
    print(table)


if __name__ == "__main__":
    main()
