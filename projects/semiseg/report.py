"""``make report PROJECT=semiseg``: the README tables and the label-ratio study pages from the sweep run
folders, through the shared report library (:mod:`shared.report`).

* The tables of ``configs/semiseg/report/*.yaml`` (Table 1 and Table 2 of each study, the first CCP run and
  its per-class IoU, the pseudo-label table) go into projects/semiseg/README.md between their markers and
  into ``reports/semiseg/<table>.json`` (with the mIoU-vs-label-ratio PNGs their specs ask for), exactly as
  for every other project, and only there; their rows and columns match the fields :func:`run_fields`
  derives from a run's config (``method``, ``ratio``). The from-scratch study's tables are frozen.
* ``reports/semiseg/<report.name>_<setting>.md`` is the study page of each setting that has runs here
  (the sweep's experiment, e.g. ccp_lite0; ``<report.name>.md`` links them): links to its tables, what
  only the page has (the checkpoint-selection / teacher-lead table) and PNGs of the pseudo-label mask
  ratio and of the val mIoU of teacher and student over training.
* Finished runs gain ``last/...`` metrics from their CSV log (:func:`last_epoch_summary`: pseudo-label
  statistics of the last epoch, the teacher's lead over its student) for tables such as
  ``pseudo_labels_lite0``.

No server is needed; the same numbers are in each W&B run's summary (``final/test/...``, ``best/test/...``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from shared.datasets.label_ratio import normalise_ratio, parse_label_ratio
from shared.errors import ConfigError
from shared.files import write_atomic
from shared.plots import plt
from shared.report import (
    MISSING,
    RunRecord,
    TableSpec,
    load_records,
    load_specs,
    metric_value,
    report_paths,
    write_tables,
)
from shared.report import collect_runs as report_runs
from shared.report.build import display
from shared.report.plots import save_figure
from shared.report.style import method_style
from shared.report.tables import markdown_rows


# -- label ratios ----------------------------------------------------------------------------------
def ratio_key(value: Any) -> str:
    """A run's label ratio -> its table key ("1/16", "1_16", 116, 0.0625 -> "1_16", the one parser in
    shared/datasets/ccp.py); an unreadable one stays as written (its column sorts last)."""
    try:
        return normalise_ratio(value)
    except ConfigError:
        return str(value)


def ratio_fraction(ratio: str) -> float:
    """ "1_16" -> 0.0625; "0.25" -> 0.25; unparseable -> nan (sorted last)."""
    try:
        return float(parse_label_ratio(ratio))
    except ConfigError:
        return math.nan


def ratio_label(ratio: str) -> str:
    return ratio.replace("_", "/")


def sort_ratios(ratios: Iterable[str]) -> list[str]:
    return sorted(set(ratios), key=lambda r: (math.isnan(ratio_fraction(r)), ratio_fraction(r), r))


# -- run records -----------------------------------------------------------------------------------
def run_fields(cfg: DictConfig) -> Mapping[str, Any]:
    """The fields the tables match on: the method and the label ratio (CCP's ``data.options.ratio``,
    the synthetic data's ``data.labeled_ratio``), normalised ("1/16", 116 -> "1_16")."""
    ratio = OmegaConf.select(cfg, "data.options.ratio", default=None)
    if ratio is None:
        ratio = OmegaConf.select(cfg, "data.labeled_ratio", default="?")
    return {"method": str(OmegaConf.select(cfg, "method.name", default="?")), "ratio": ratio_key(ratio)}


def collect_runs(root: Path) -> list[RunRecord]:
    """Every ``<root>/<setting>/<run>/`` run folder with its method and ratio fields."""
    return report_runs(root, fields=run_fields)


def selection_and_lead_table(records: Sequence[RunRecord], methods: Sequence[tuple[str, str]], metric: str) -> str:
    """Per method (id, label) over all finished runs, then over all of them: how often the val-selected
    checkpoint scores exactly like the final weights (i.e. the last epoch was the best on val), and the EMA
    teacher's lead over its student in mIoU points per run, on val (last validation, ``last/val/...`` from
    :func:`with_summaries`) and on test (final weights): mean [min, max] and how many runs are at or above 0."""
    header = ["method", "runs", "val-selected = final", "teacher − student, val: mean [min, max], runs ≥ 0",
              "teacher − student, test: mean [min, max], runs ≥ 0"]
    rows = []
    finished = [r for r in records if r.finished]
    groups = [(label, [r for r in finished if r.fields.get("method") == method]) for method, label in methods]
    for label, runs in [*groups, ("all methods", [r for _, g in groups for r in g])]:
        if not runs:
            continue
        same = sum(best is not None and best == metric_value(r, "final", metric)
                   for r in runs if (best := metric_value(r, "best", metric)) is not None)
        val = [metric_value(r, None, f"{LAST}/val/teacher_minus_student") for r in runs]
        test = [metric_value(r, None, f"{LAST}/test/teacher_minus_student") for r in runs]
        rows.append([label, str(len(runs)), f"{same} of {len(runs)}", _lead(val), _lead(test)])
    return markdown_rows(header, rows)


def _lead(values: Sequence[float | None]) -> str:
    points = [100 * v for v in values if v is not None]
    if not points:
        return MISSING
    return (f"{statistics.fmean(points):+.1f} [{min(points):+.1f}, {max(points):+.1f}], "
            f"{sum(p >= 0 for p in points)} of {len(points)}")


# -- mask-ratio curves -----------------------------------------------------------------------------
def read_curve(record: RunRecord, column: str) -> pd.Series | None:
    """``column`` against the global step from the run's CSV log (last value per step: a resumed run
    appends to the same file and may repeat the steps after its last checkpoint)."""
    path = record.run_dir / "csv" / "metrics.csv"
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    if column not in frame or "step" not in frame:
        return None
    frame = frame[["step", column]].dropna()
    if frame.empty:
        return None
    return frame.groupby("step")[column].last()


# Keys of the last-epoch summaries a table can name as metrics (configs/semiseg/report/pseudo_labels_lite0.yaml).
LAST = "last"


def last_epoch_summary(record: RunRecord) -> dict[str, float]:
    """From the run's CSV log: ``last/<key>`` = mean of every ``train/...`` column over the steps of the last
    epoch (pseudo-label mask ratios, foreground shares, accuracies), ``last/val/<model>/miou`` at the last
    validation, and ``last/val/teacher_minus_student`` and ``last/test/teacher_minus_student`` (final
    weights) in mIoU: the EMA teacher's lead (negative: it lags)."""
    path = record.run_dir / "csv" / "metrics.csv"
    out: dict[str, float] = {}
    if path.is_file():
        frame = pd.read_csv(path)
        train = [c for c in frame.columns if c.startswith("train/")]
        if "epoch" in frame and train:
            rows = frame[frame[train].notna().any(axis=1) & frame["epoch"].notna()]   # not the test rows after fit
            last = rows[rows["epoch"] == rows["epoch"].max()]
            for column in train:
                values = last[column].dropna()
                if not values.empty:
                    out[f"{LAST}/{column}"] = float(values.mean())
        for model in ("teacher", "student"):
            column = f"val/{model}/miou"
            if column in frame and frame[column].notna().any():
                out[f"{LAST}/{column}"] = float(frame[column].dropna().iloc[-1])
    if f"{LAST}/val/teacher/miou" in out and f"{LAST}/val/student/miou" in out:
        out[f"{LAST}/val/teacher_minus_student"] = out[f"{LAST}/val/teacher/miou"] - out[f"{LAST}/val/student/miou"]
    test_t = metric_value(record, "final", "test/teacher/miou")
    test_s = metric_value(record, "final", "test/student/miou")
    if test_t is not None and test_s is not None:
        out[f"{LAST}/test/teacher_minus_student"] = test_t - test_s
    return out


def with_summaries(records: Sequence[RunRecord]) -> list[RunRecord]:
    """Finished records with their :func:`last_epoch_summary` added to ``metrics``."""
    return [dataclasses.replace(r, metrics={**r.metrics, **last_epoch_summary(r)}) if r.finished else r
            for r in records]


def mean_curves(curves: dict[tuple[str, str], list[pd.Series]]) -> dict[tuple[str, str], pd.DataFrame]:
    """(method, ratio) -> DataFrame(step, mean, std, n) over the seeds' curves (outer join on step)."""
    out = {}
    for key, series in curves.items():
        if not series:
            continue
        table = pd.concat(series, axis=1)
        out[key] = pd.DataFrame({"mean": table.mean(axis=1), "std": table.std(axis=1).fillna(0.0),
                                 "n": table.notna().sum(axis=1)}).sort_index()
    return out


# -- plots -----------------------------------------------------------------------------------------
def plot_curves(curves: dict[tuple[str, str], pd.DataFrame], methods: Sequence[tuple[str, str]],
                    ratios: Sequence[str], path: Path, title: str, ylabel: str = "mask ratio",
                    dashed: dict[tuple[str, str], pd.DataFrame] | None = None,
                    ylim: tuple[float, float] | None = (0, 1.02)) -> Path | None:
    """One panel per label ratio, one line per method (id, label): mean over seeds ± std (shaded); the
    ``dashed`` curves (same keys) drawn in the same colour, dashed (e.g. the student beside the teacher)."""
    ratios = [r for r in ratios if any((m, r) in curves for m, _ in methods)]
    if not ratios:
        return None
    order = [m for m, _ in methods if any((m, r) in curves for r in ratios)]  # the methods drawn, each its own look
    fig, axes = plt.subplots(1, len(ratios), figsize=(4.2 * len(ratios), 3.6), sharey=True, squeeze=False)
    for ax, ratio in zip(axes[0], ratios):
        for method, label in methods:
            curve = curves.get((method, ratio))
            if curve is None:
                continue
            style = method_style(method, order)
            colour = style["color"]
            ax.plot(curve.index, curve["mean"], label=label, lw=1.2, color=colour, marker=style["marker"],
                    markevery=max(1, len(curve) // 8), markersize=4)
            ax.fill_between(curve.index, curve["mean"] - curve["std"], curve["mean"] + curve["std"],
                            color=colour, alpha=0.2, lw=0)
            other = (dashed or {}).get((method, ratio))
            if other is not None:
                ax.plot(other.index, other["mean"], lw=1.0, ls="--", color=colour)
        ax.set_title(f"label ratio {ratio_label(ratio)}", fontsize=10)
        ax.set_xlabel("training step")
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    return save_figure(fig, path, title, axes[0], legend_space=0.08)


# -- the study report ------------------------------------------------------------------------------
def setting_line(records: Sequence[RunRecord]) -> str:
    if not records:
        return ""
    r = records[0]
    samples = r.value("data.epoch_samples")
    return (f"dataset `{r.value('data.dataset')}`, encoder `{r.value('model.name')}`, "
            f"{r.value('data.crop_size')} px train crops, {r.value('data.eval_size')} px evaluation, "
            f"batch {r.value('data.batch_size')}, {r.value('trainer.max_epochs')} epochs"
            f"{f' of {samples} unlabelled samples' if samples else ''}, precision {r.value('trainer.precision')}")


def study_methods(specs: Sequence[TableSpec], records: Sequence[RunRecord] = ()) -> list[tuple[str, str]]:
    """(id, label) of every method row of the study's tables whose rows are methods (first appearance
    first), then any other method of ``records``."""
    seen: dict[str, str] = {}
    for spec in specs:
        for row in spec.rows:
            if set(row.match) == {"method"}:
                seen.setdefault(str(row.match["method"]), row.label)
    for record in records:
        seen.setdefault(str(record.fields.get("method")), str(record.fields.get("method")))
    return list(seen.items())


def table_links(specs: Sequence[TableSpec], out_dir: Path, readme: Path) -> list[str]:
    """One line per table of the setting: its title, where the README shows it and its JSON."""
    lines = []
    for spec in specs:
        bold = re.match(r"\*\*(.+?)\*\*", spec.title)
        title = bold[1] if bold else spec.title.split("(")[0].strip(" *:") or spec.name
        files = [f"[README]({os.path.relpath(readme, out_dir)})", f"[{spec.name}.json]({spec.name}.json)"]
        if (out_dir / f"{spec.name}.png").is_file():
            files.append(f"[plot]({spec.name}.png)")
        lines.append(f"* {title} (`{spec.name}`): {', '.join(files)}")
    return lines


def setting_section(setting: str, records: Sequence[RunRecord], specs: Sequence[TableSpec],
                    options: Mapping[str, Any], out_dir: Path, name: str, readme: Path) -> list[str]:
    """The study page of one setting; ``specs``: the README tables of that setting."""
    mine = [r for r in records if r.setting == setting]
    finished = [r for r in mine if r.finished]
    lines = [f"## Setting `{setting}`", "", setting_line(mine), "",
             f"{len(finished)} finished runs, {len(mine) - len(finished)} unfinished "
             f"({options.get('seeds', 3)} seeds planned per cell). {_supervised_note(finished)}", ""]
    stem = f"{name}_{setting}"
    if specs:
        lines += ["### Tables", "", "Written once, by the shared report library, into the README and their JSON "
                  "(mean ± sample std over seeds, n = seeds):", "", *table_links(specs, out_dir, readme), ""]
    methods = study_methods(specs, finished)
    metric = str(options["metric"])
    lines += ["### Checkpoint selection and teacher lead", "",
              "Over all finished runs of a method, then of all methods: in how many the val-selected checkpoint "
              "scores exactly like the final weights on test, and the EMA teacher minus its student per run "
              "(mIoU points; negative: the teacher lags) at the last validation and on test with the final "
              "weights.", "",
              selection_and_lead_table(finished, methods, metric), ""]
    column = str(options["mask_ratio"])
    raw = _curves(finished, column)
    ratios = sort_ratios(r.fields["ratio"] for r in finished)
    mask_plot = plot_curves(mean_curves(raw), [m for m in methods if m[0] != "supervised"], ratios,
                                out_dir / f"{stem}_mask_ratio.png",
                                f"{setting}: share of unlabelled pixels with teacher confidence ≥ 0.95 "
                                f"(`{column}`), mean ± std over seeds")
    if mask_plot is not None:
        lines += ["### Pseudo-label mask ratio over training", "",
                  f"Fraction of unlabelled pixels whose teacher confidence reaches 0.95 (`{column}`).", "",
                  f"![mask ratio over training]({mask_plot.name})", ""]
    val_curves = {model: mean_curves(_curves(finished, f"val/{model}/miou")) for model in ("teacher", "student")}
    if val_curves["teacher"]:
        val_plot = plot_curves(val_curves["teacher"], methods, ratios, out_dir / f"{stem}_val_miou.png",
                                   f"{setting}: val mIoU over training, EMA teacher (solid) and student (dashed), "
                                   f"mean ± std over seeds", ylabel="val mIoU", dashed=val_curves["student"],
                                   ylim=None)
        if val_plot is not None:
            lines += ["### Learning curves (val)", "",
                      "Val mIoU of the EMA teacher (solid) and of its student (dashed) at every validation: where "
                      "the curves level off and where the teacher catches up with the student.", "",
                      f"![val mIoU over training]({val_plot.name})", ""]
    unfinished = sorted(display(r.run_dir) for r in mine if not r.finished)
    if unfinished:
        lines += ["Unfinished runs (no metrics.json yet; `make sweep` resumes them):", "",
                  *[f"* `{path}`" for path in unfinished], ""]
    return lines


def _supervised_note(finished: Sequence[RunRecord]) -> str:
    sup = [r for r in finished if r.fields.get("method") == "supervised"]
    if sup and all(metric_value(r, "final", "test/teacher/miou") is not None for r in sup):
        return "The supervised baseline keeps the same EMA teacher (never used in training): teacher against teacher."
    return "The supervised baseline has no teacher: its row is the student."


def _curves(records: Iterable[RunRecord], column: str) -> dict[tuple[str, str], list[pd.Series]]:
    raw: dict[tuple[str, str], list[pd.Series]] = {}
    for record in records:
        curve = read_curve(record, column)
        if curve is not None:
            raw.setdefault((record.fields["method"], record.fields["ratio"]), []).append(curve)
    return raw


def write_study(records: Sequence[RunRecord], specs: Sequence[TableSpec], options: Mapping[str, Any],
                out_dir: Path, name: str, readme: Path, source: str = "") -> Path:
    """One page per setting found in ``records``, ``<out_dir>/<name>_<setting>.md`` (+ its PNGs), and the
    index ``<out_dir>/<name>.md`` linking every ``<name>_<setting>.md`` there (a setting without runs on
    this machine keeps its committed page)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    protocol = ("Protocol: every \"best\" decision (the val-selected checkpoint, the historical queue) uses the "
                "validation split; the test split is only evaluated, for the final teacher and for the "
                "val-selected teacher.")
    for setting in sorted({r.setting for r in records}):
        lines = [f"# Label-ratio study (semiseg): setting `{setting}`", "",
                 f"Written by `make report PROJECT=semiseg` from the run folders under `{source}` and the archive.",
                 protocol, "", *setting_section(setting, records, [s for s in specs if s.setting == (setting,)],
                                                options, out_dir, name, readme)]
        text = "\n".join(lines).rstrip() + "\n"
        write_atomic(out_dir / f"{name}_{setting}.md", lambda f, t=text: f.write(t))
    studies = sorted(p.name for p in out_dir.glob(f"{name}_*.md"))
    index = ["# Label-ratio study (semiseg)", "", "One report per setting (the sweep's experiment):", "",
             *[f"* [{study.removeprefix(name + '_').removesuffix('.md')}]({study})" for study in studies]]
    path = out_dir / f"{name}.md"
    write_atomic(path, lambda f: f.write("\n".join(index) + "\n"))
    return path


def run(cfg: DictConfig) -> dict[str, Any]:
    """The ``report`` task: the README tables (shared library), then the study report."""
    paths = report_paths(cfg)
    records = with_summaries(load_records(paths, "semiseg", fields=run_fields))   # none: a DataError
    specs = load_specs(paths.tables)
    tables = write_tables(specs, records, paths)
    options: dict[str, Any] = OmegaConf.to_container(cfg.report, resolve=True)  # type: ignore[assignment]
    path = write_study(records, specs, options, paths.output_dir, str(options["name"]), paths.readme,
                       source=display(paths.runs))
    finished = sum(r.finished for r in records)
    print(f"report ({finished} finished / {len(records)} runs) -> {path}")
    return {"report": str(path), "tables": tables, "runs": len(records), "finished": finished}
