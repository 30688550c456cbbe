"""``make report PROJECT=variational_seg``: the README tables of configs/variational_seg/report/*.yaml
through the shared report library (shared/report/), then the per-image tables, the one special table
kind here: rows are the images of one marker row, a column per model, each cell that image's DSC / HD
/ HD95 / iterations from the run's ``per_image.csv`` (README blocks ``anchors_per_image``,
``table1_per_image``; ``reports/variational_seg/<name>.json``, with ``wins``: on how many images the
first model's DSC is higher than each other's). Run folders come from the sweeps
configs/variational_seg/sweep/{tables,ablations,anchors}.yaml. Then the NoC curve (``noc_curve.png``): the
mean IoU after 1..20 clicks of every method of the ``noc`` sweep (``make sweep ... SWEEP=noc``)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from shared.files import write_atomic
from shared.report import load_records, load_specs, report_paths, write_tables
from shared.report.build import display
from shared.report.readme import write_block
from shared.report.runs import RunRecord
from shared.report.tables import in_repo

MISSING = "–"


@dataclass(frozen=True)
class PerImageTable:
    name: str                          # README block and reports/variational_seg/<name>.json
    setting: str                       # sweep folder of the runs
    row: str                           # the marker row (table_row) of the runs
    models: tuple[tuple[str, str], ...]  # (model name, column label)
    seed: int = 0                      # the training seed of a learned model's run (its table rows average 3)


PER_IMAGE = (
    PerImageTable("anchors_per_image", "anchors", "k3", (("wbh_colour", "Shipped (WBH + colour)"),
                  ("wbh", "Paper (WBH)"), ("cv2_grabcut", "cv2.grabCut"), ("random_walker", "random_walker"))),
    PerImageTable("table1_per_image", "tables", "k3", (("wbh", "Ours (WBH)"), ("rci", "RCI"), ("tv", "TV"),
                                                       ("unet", "U-Net (seed 0)"))),
)


def per_image_rows(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / "per_image.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def find_run(records: Sequence[RunRecord], setting: str, model: str, row: str, seed: int) -> RunRecord | None:
    """The finished run of ``model`` with ``seed`` on marker row ``row`` in ``setting`` (None if there is none)."""
    found = [r for r in records if r.setting == setting and r.finished
             and r.matches({"model.name": model, "table_row": row, "seed": seed})]
    return found[0] if found else None


def per_image_cell(row: dict[str, str] | None) -> str:
    if row is None:
        return MISSING
    return (f"{float(row['dice']):.3f} / {float(row['hd']):.0f} / {float(row['hd95']):.0f} / "
            f"{int(float(row['iterations']))}")


def per_image_table(table: PerImageTable, records: Sequence[RunRecord]) -> tuple[str, dict[str, Any]] | None:
    """Markdown and JSON of one per-image table; None when none of its runs has finished."""
    runs = [find_run(records, table.setting, model, table.row, table.seed) for model, _ in table.models]
    if not any(runs):
        return None
    by_model = [{r["id"]: r for r in per_image_rows(run.run_dir)} if run else {} for run in runs]
    ids = list(next(rows for rows in by_model if rows))
    header = "| image | " + " | ".join(f"{label} DSC / HD / HD95 / it" for _, label in table.models) + " |"
    lines = [header, "|---|" + "---|" * len(table.models)]
    lines += [f"| {image} | " + " | ".join(per_image_cell(rows.get(image)) for rows in by_model) + " |"
              for image in ids]
    first = by_model[0]
    wins = {model: sum(float(first[i]["dice"]) > float(rows[i]["dice"]) for i in first if i in rows)
            for (model, _), rows in zip(table.models[1:], by_model[1:]) if first and rows}
    data = {"table": table.name, "setting": table.setting, "markers": table.row, "seed": table.seed,
            "wins": {"model": table.models[0][0], "images_with_higher_dice_than": wins},
            "runs": {model: in_repo(run.run_dir) if run else None for (model, _), run in zip(table.models, runs)},
            "images": {image: {model: rows.get(image) for (model, _), rows in zip(table.models, by_model)}
                       for image in ids}}
    return "\n".join(lines), data


def write_per_image(records: Sequence[RunRecord], readme: Path, output_dir: Path) -> list[str]:
    written = []
    for table in PER_IMAGE:
        made = per_image_table(table, records)
        if made is None:
            print(f"{table.name}: no finished runs in {table.setting}: README block and reports left as they are")
            continue
        markdown, data = made
        out = output_dir / f"{table.name}.json"
        write_atomic(out, lambda f, d=data: f.write(json.dumps(d, indent=2) + "\n"))
        in_readme = write_block(readme, table.name, markdown)
        wins = data["wins"]["images_with_higher_dice_than"]
        print(f"{table.name}: {data['wins']['model']} has the higher DSC on " + (", ".join(
            f"{n} of {len(data['images'])} images vs {m}" for m, n in wins.items()) or "-"))
        print(f"{table.name}: {len(data['images'])} images -> {display(out)}"
              + (f"; {display(readme)}" if in_readme else f"; no {table.name} block in {display(readme)}"))
        written.append(table.name)
    return written


NOC_SETTING = "noc"
NOC_THRESHOLDS = (0.85, 0.90)


def curve_labels() -> dict[str, str]:
    """Model name -> the short name the curve table gives it (its column labels,
    configs/variational_seg/report/noc_curve.yaml), so the figure names the methods as that table does."""
    from shared.paths import CONFIG_ROOT

    specs = [s for s in load_specs(CONFIG_ROOT / "variational_seg" / "report") if s.name == "noc_curve"]
    return {str(c.match["model.name"]): c.label for spec in specs for c in spec.columns if "model.name" in c.match}


def write_noc_curve(records: Sequence[RunRecord], output_dir: Path, subset: str = "all") -> Path | None:
    """Mean IoU after k clicks (``<subset>/iou_at_<k>``) of the finished runs of the ``noc`` sweep, one line per
    method (a method with several runs, the extent net's seeds: their mean, their range shaded), the NoC
    thresholds as dotted lines; None when there is no such run."""
    from shared.plots import plt
    from shared.report.plots import save_figure
    from shared.report.style import method_style

    runs = sorted((r for r in records if r.setting == NOC_SETTING and r.finished), key=lambda r: r.name)
    if not runs:
        return None
    labels = curve_labels()
    by_method: dict[str, list[RunRecord]] = {}
    for r in runs:
        by_method.setdefault(labels.get(str(r.value("model.name")), r.name), []).append(r)
    order = list(by_method)
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    for label, group in by_method.items():
        clicks = int(group[0].metrics.get("max_clicks", 20))
        ys = np.array([[float(r.metrics.get(f"{subset}/iou_at_{k}", np.nan)) for k in range(1, clicks + 1)]
                       for r in group])
        xs = range(1, clicks + 1)
        style = method_style(label, order)
        name = label if len(group) == 1 else f"{label} (mean of {len(group)} runs, range shaded)"
        ax.plot(xs, ys.mean(0), label=name, markersize=4, **style)
        if len(group) > 1:
            ax.fill_between(xs, ys.min(0), ys.max(0), color=style["color"], alpha=0.2, linewidth=0)
    for thr in NOC_THRESHOLDS:
        ax.axhline(thr, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("clicks")
    ax.set_ylabel(f"mean IoU ({runs[0].metrics.get(f'{subset}/n')} GrabCut images)")
    ax.set_xticks(range(1, 21, 2))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, output_dir / "noc_curve.png", "Mean IoU after k clicks (the field's click protocol)")


def run(cfg: DictConfig) -> dict[str, Any]:
    """The ``report`` task: the spec tables (shared library), then the per-image tables and the NoC curve."""
    paths = report_paths(cfg)
    records = load_records(paths, "variational_seg")   # none: a DataError, nothing written
    tables = write_tables(load_specs(paths.tables), records, paths)
    per_image = write_per_image(records, paths.readme, paths.output_dir)
    curve = write_noc_curve(records, paths.output_dir)
    print(f"noc_curve: {display(curve)}" if curve else "noc_curve: no finished runs in noc: figure left as it is")
    finished = sum(r.finished for r in records)
    print(f"report: {finished} finished / {len(records)} run folders under {display(paths.runs)}, "
          f"{len(tables) + len(per_image)} tables written")
    return {"tables": tables, "per_image": per_image, "runs": len(records), "finished": finished}
