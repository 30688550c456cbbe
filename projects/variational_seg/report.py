"""Markdown tables for the README from eval run folders (each holds ``summary.json`` + ``per_image.csv``):

    python -m projects.variational_seg.report runs/variational_seg/eval/grabcut-wbh/<ts> ...  [--per-image]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

LABELS = {"wbh_colour": "Shipped (WBH + colour)", "grabcut": "cv2.grabCut", "random_walker": "random_walker",
          "wbh": "Paper (WBH)", "rci": "RCI", "tv": "TV", "unet": "U-Net",
          "tv_tv2": "Ablation: constant weights (TV-TV²)", "wbh_nogeo": "Ablation: no geodesic term"}


def load(run: Path) -> tuple[dict, list[dict]]:
    summary = json.loads((run / "summary.json").read_text())
    with (run / "per_image.csv").open(newline="") as f:
        return summary, list(csv.DictReader(f))


def mean_table(runs: list[tuple[dict, list[dict]]]) -> str:
    lines = ["| model | markers | n | DSC | HD (px) | HD95 (px) | HD (% diag) | iterations | s / image |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s, _ in runs:
        m = s["markers"]
        src = m["source"] + (f" k={m['k']}" if m["source"] == "simulated" else "")
        lines.append(f"| {LABELS.get(s['model'], s['model'])} | {src} | {s['n']} | {s['dsc_mean']:.4f} ± "
                     f"{s['dsc_std']:.3f} | {s['hd_mean']:.1f} | {s['hd95_mean']:.1f} | {s['hd_pct_mean']:.1f} | "
                     f"{s['iterations_mean']:.1f} ± {s['iterations_std']:.1f} | {s['seconds_mean']:.2f} |")
    return "\n".join(lines)


def per_image_table(runs: list[tuple[dict, list[dict]]]) -> str:
    names = [LABELS.get(s["model"], s["model"]) for s, _ in runs]
    head = "| image | " + " | ".join(f"{n} DSC / HD / HD95 / it" for n in names) + " |"
    lines = [head, "|---|" + "---|" * len(runs)]
    by_id = [{r["id"]: r for r in rows} for _, rows in runs]
    for image_id in [r["id"] for r in runs[0][1]]:
        cells = []
        for table in by_id:
            r = table.get(image_id)
            cells.append("–" if r is None else f"{float(r['dsc']):.3f} / {float(r['hd']):.0f} / "
                         f"{float(r['hd95']):.0f} / {int(float(r['iterations']))}")
        lines.append(f"| {image_id} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def wins(runs: list[tuple[dict, list[dict]]]) -> str:
    """On how many images the first run's DSC is higher than each other run's."""
    first = {r["id"]: float(r["dsc"]) for r in runs[0][1]}
    out = []
    for s, rows in runs[1:]:
        other = {r["id"]: float(r["dsc"]) for r in rows}
        better = sum(first[i] > other[i] for i in first if i in other)
        out.append(f"{LABELS.get(runs[0][0]['model'])} > {LABELS.get(s['model'], s['model'])} on {better} of "
                   f"{len(other)} images (DSC)")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--per-image", action="store_true")
    parser.add_argument("--wins", action="store_true", help="count images where the first run has the higher DSC")
    args = parser.parse_args()
    runs = [load(r) for r in args.runs]
    print(wins(runs) if args.wins else per_image_table(runs) if args.per_image else mean_table(runs))


if __name__ == "__main__":
    main()
