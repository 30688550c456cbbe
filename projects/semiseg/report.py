"""``make report PROJECT=semiseg``: the label-ratio study's tables and plots from the sweep run folders.

Reads every run folder ``<report.runs>/<setting>/<run>/`` that a sweep wrote (``.hydra/config.yaml``
for method / label ratio / seed, ``metrics.json`` for the test mIoU of the final and of the
val-selected model, ``csv/metrics.csv`` for the pseudo-label mask ratio over training) and writes
``<report.output_dir>/<report.name>.md`` with, per setting (the sweep's experiment, e.g. ccp_small):

* Table 1 analogue: rows method, columns label ratio, mean ± std over seeds (n shown) of the test
  mIoU of the final teacher and of the val-selected teacher, plus MvpMatch − UniMatch V2;
* Table 2 analogue: the ablation (UniMatch V2, + hierarchical thresholds, + historical ensemble, both);
* PNGs: mIoU vs label ratio per method (mean ± std, log-scale x) and the mask ratio over training.

Missing cells are "–"; a run folder without metrics.json counts as unfinished and is listed. No
server is needed; the same numbers are in each W&B run's summary (``final/test/...``, ``best/test/...``).
The aggregation is small pure functions (``summarise``, ``aggregate``, ``format_cell``,
``markdown_table``) tested on fake run records.
"""

from __future__ import annotations

import json
import math
import statistics
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from shared.data.ccp import normalise_ratio, parse_label_ratio  # noqa: E402
from shared.errors import ConfigError, DataError  # noqa: E402

MISSING = "–"
WHICH = {"final": "final teacher", "best": "val-selected teacher"}
METHOD_LABELS = {
    "supervised": "Supervised (labelled only)",
    "unimatch_v2": "UniMatch V2",
    "mvpmatch": "MvpMatch",
    "mvpmatch_ht_only": "+ hierarchical thresholds only",
    "mvpmatch_he_only": "+ historical ensemble only",
}


@dataclass(frozen=True)
class RunRecord:
    """One run folder of a sweep. ``metrics`` is metrics.json ({} while the run is unfinished)."""

    setting: str
    method: str
    ratio: str
    seed: int
    metrics: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)   # model / sizes / epochs, for the setting line

    @property
    def finished(self) -> bool:
        return bool(self.metrics)


@dataclass(frozen=True)
class Cell:
    mean: float
    std: float     # sample std (ddof 1); 0.0 for a single seed
    n: int


# -- label ratios ----------------------------------------------------------------------------------
def ratio_key(value: Any) -> str:
    """A run's label ratio -> its table key ("1/16", "1_16", 116, 0.0625 -> "1_16", the one parser in
    shared/data/ccp.py); an unreadable one stays as written (its column sorts last)."""
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


# -- reading run folders ---------------------------------------------------------------------------
def read_run(run_dir: Path, setting: str | None = None) -> RunRecord | None:
    """A run folder -> its record; None when it is not a train run (no .hydra/config.yaml)."""
    config_file = run_dir / ".hydra" / "config.yaml"
    if not config_file.is_file():
        return None
    cfg = OmegaConf.load(config_file)
    data = cfg.get("data") or {}
    ratio = OmegaConf.select(cfg, "data.options.ratio", default=None) or data.get("labeled_ratio", "?")
    metrics: dict[str, Any] = {}
    metrics_file = run_dir / "metrics.json"
    if metrics_file.is_file():
        try:
            metrics = json.loads(metrics_file.read_text())
        except json.JSONDecodeError:
            metrics = {}
    info = {key: OmegaConf.select(cfg, key, default=None) for key in (
        "data.dataset", "model.name", "data.crop_size", "data.eval_size", "trainer.max_epochs",
        "data.epoch_samples", "data.batch_size", "trainer.precision")}
    return RunRecord(setting=setting or run_dir.parent.name, method=str(OmegaConf.select(cfg, "method.name")),
                     ratio=ratio_key(ratio), seed=int(cfg.get("seed", 0)), metrics=metrics,
                     run_dir=run_dir, info=info)


def collect_runs(root: Path) -> list[RunRecord]:
    """Every ``<root>/<setting>/<run>/`` folder; one record per (setting, method, ratio, seed), a
    finished run preferred over an unfinished one."""
    records: dict[tuple, RunRecord] = {}
    for config_file in sorted(Path(root).glob("*/*/.hydra/config.yaml")):
        record = read_run(config_file.parent.parent)
        if record is None:
            continue
        key = (record.setting, record.method, record.ratio, record.seed)
        if key not in records or (record.finished and not records[key].finished):
            records[key] = record
    return list(records.values())


# -- aggregation (pure) ----------------------------------------------------------------------------
def metric_value(record: RunRecord, which: str, metric: str) -> float | None:
    """``which`` = "final" (the weights after the last epoch) or "best" (the val-selected checkpoint)."""
    value = record.metrics.get(f"{which}/{metric}")
    return float(value) if isinstance(value, (int, float)) else None


def summarise(values: Sequence[float]) -> Cell | None:
    values = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return Cell(mean=statistics.fmean(values), std=std, n=len(values))


def aggregate(records: Iterable[RunRecord], which: str, metric: str) -> dict[tuple[str, str], Cell]:
    """(method, ratio) -> mean ± std over the seeds of the finished runs that have the metric."""
    values: dict[tuple[str, str], list[float]] = {}
    for record in records:
        value = metric_value(record, which, metric)
        if value is not None:
            values.setdefault((record.method, record.ratio), []).append(value)
    return {key: cell for key, vals in values.items() if (cell := summarise(vals)) is not None}


def format_cell(cell: Cell | None, scale: float = 100.0) -> str:
    """"41.2 ± 0.8 (n=3)"; one seed: "41.2 (n=1)"; no run: "–"."""
    if cell is None:
        return MISSING
    if cell.n == 1:
        return f"{cell.mean * scale:.1f} (n=1)"
    return f"{cell.mean * scale:.1f} ± {cell.std * scale:.1f} (n={cell.n})"


def difference_row(cells: dict[tuple[str, str], Cell], ratios: Sequence[str], minuend: str, subtrahend: str,
                   scale: float = 100.0) -> list[str]:
    """Difference of the means per ratio ("+1.9"); "–" where either cell is missing."""
    out = []
    for ratio in ratios:
        a, b = cells.get((minuend, ratio)), cells.get((subtrahend, ratio))
        out.append(MISSING if a is None or b is None else f"{(a.mean - b.mean) * scale:+.1f}")
    return out


def markdown_table(cells: dict[tuple[str, str], Cell], methods: Sequence[str], ratios: Sequence[str],
                   extra_rows: Sequence[tuple[str, list[str]]] = ()) -> str:
    header = "| method | " + " | ".join(ratio_label(r) for r in ratios) + " |"
    rule = "|---|" + "---|" * len(ratios)
    rows = [f"| {METHOD_LABELS.get(m, m)} | " + " | ".join(format_cell(cells.get((m, r))) for r in ratios) + " |"
            for m in methods]
    rows += [f"| {label} | " + " | ".join(values) + " |" for label, values in extra_rows]
    return "\n".join([header, rule, *rows])


def selection_and_lag_table(records: Sequence[RunRecord], methods: Sequence[str], metric: str) -> str:
    """Per method over all finished runs: how often the val-selected checkpoint scores exactly like the
    final weights (i.e. the last epoch was the best on val), and final student minus final teacher
    test mIoU in points (mean, min, max): the EMA teacher's lag."""
    lines = ["| method | runs | val-selected = final | student − teacher, points: mean [min, max] |",
             "|---|---|---|---|"]
    for method in methods:
        runs = [r for r in records if r.method == method and r.finished]
        if not runs:
            continue
        pairs = [(metric_value(r, "best", metric), metric_value(r, "final", metric)) for r in runs]
        same = sum(best is not None and best == final for best, final in pairs)
        gaps = [100 * (s - t) for r in runs
                if (s := metric_value(r, "final", metric.replace("test/", "test/student/"))) is not None
                and (t := metric_value(r, "final", metric.replace("test/", "test/teacher/"))) is not None]
        lag = f"{statistics.fmean(gaps):+.1f} [{min(gaps):+.1f}, {max(gaps):+.1f}]" if gaps else MISSING
        lines.append(f"| {METHOD_LABELS.get(method, method)} | {len(runs)} | {same} of {len(runs)} | {lag} |")
    return "\n".join(lines)


# -- mask-ratio curves -----------------------------------------------------------------------------
def read_curve(record: RunRecord, column: str) -> pd.Series | None:
    """``column`` against the global step from the run's CSV log (last value per step: a resumed run
    appends to the same file and may repeat the steps after its last checkpoint)."""
    if record.run_dir is None:
        return None
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
def method_colour(method: str) -> Any:
    """One colour per method in every figure (the known methods first, then any other by name)."""
    order = [*METHOD_LABELS, method]
    return plt.get_cmap("tab10")(order.index(method) % 10)


def _legend(fig: Any, axes: Sequence[Any]) -> None:
    """One legend for the figure with every method drawn in any panel."""
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(5, len(handles)), fontsize=8,
                   frameon=False)


def _save(fig, axes, title: str, path: Path, legend_space: float) -> Path:
    """Shared legend below the panels, wrapped title, PNG at ``path``."""
    _legend(fig, axes)
    fig.suptitle(textwrap.fill(title, width=max(40, 14 * len(fig.axes))), fontsize=10)
    fig.tight_layout(rect=(0, legend_space, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_miou_vs_ratio(tables: dict[str, dict[tuple[str, str], Cell]], methods: Sequence[str],
                       ratios: Sequence[str], path: Path, title: str) -> Path:
    """One panel per table ("final teacher", "val-selected teacher"): mean ± std over seeds per method."""
    fig, axes = plt.subplots(1, len(tables), figsize=(5.2 * len(tables), 4.0), sharey=True, squeeze=False)
    xs_all = [ratio_fraction(r) for r in ratios]
    for ax, (panel, cells) in zip(axes[0], tables.items()):
        for i, method in enumerate(methods):
            if not any((method, r) in cells for r in ratios):
                continue
            found = [cells.get((method, r)) for r in ratios]  # a missing cell is NaN: the line breaks there
            shift = 1.0 + 0.03 * (i - (len(methods) - 1) / 2)   # keep overlapping error bars apart
            ax.errorbar([x * shift for x in xs_all], [c.mean * 100 if c else math.nan for c in found],
                        yerr=[c.std * 100 if c else math.nan for c in found], marker="o", capsize=3,
                        color=method_colour(method), label=METHOD_LABELS.get(method, method))
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs_all, [ratio_label(r) for r in ratios])
        ax.minorticks_off()
        ax.set_xlabel("label ratio (log scale)")
        ax.set_title(panel, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test mIoU (%)")
    return _save(fig, axes[0], title, path, legend_space=0.07)


def plot_mask_ratio(curves: dict[tuple[str, str], pd.DataFrame], methods: Sequence[str], ratios: Sequence[str],
                    path: Path, column: str, title: str) -> Path | None:
    """One panel per label ratio, one line per method: mean over seeds ± std (shaded)."""
    ratios = [r for r in ratios if any((m, r) in curves for m in methods)]
    if not ratios:
        return None
    fig, axes = plt.subplots(1, len(ratios), figsize=(4.2 * len(ratios), 3.6), sharey=True, squeeze=False)
    for ax, ratio in zip(axes[0], ratios):
        for method in methods:
            curve = curves.get((method, ratio))
            if curve is None:
                continue
            colour = method_colour(method)
            ax.plot(curve.index, curve["mean"], label=METHOD_LABELS.get(method, method), lw=1.2, color=colour)
            ax.fill_between(curve.index, curve["mean"] - curve["std"], curve["mean"] + curve["std"],
                            color=colour, alpha=0.2, lw=0)
        ax.set_title(f"label ratio {ratio_label(ratio)}", fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mask ratio")
    return _save(fig, axes[0], title, path, legend_space=0.08)


# -- the report ------------------------------------------------------------------------------------
def setting_line(records: Sequence[RunRecord]) -> str:
    info = next((r.info for r in records if r.info), {})
    if not info:
        return ""
    samples = info.get("data.epoch_samples")
    return (f"dataset `{info.get('data.dataset')}`, encoder `{info.get('model.name')}`, "
            f"{info.get('data.crop_size')} px train crops, {info.get('data.eval_size')} px evaluation, "
            f"batch {info.get('data.batch_size')}, {info.get('trainer.max_epochs')} epochs"
            f"{f' of {samples} unlabelled samples' if samples else ''}, precision {info.get('trainer.precision')}")


def setting_section(setting: str, records: Sequence[RunRecord], spec: dict[str, Any], out_dir: Path,
                    name: str) -> list[str]:
    finished = [r for r in records if r.finished]
    metric, seeds = spec["metric"], int(spec.get("seeds", 3))
    t1_methods, t2_methods = list(spec["table1_methods"]), list(spec["table2_methods"])
    seen = {r.ratio for r in records}
    t1_ratios = sort_ratios([*spec["ratios"], *seen])
    t2_ratios = sort_ratios(spec["table2_ratios"])
    lines = [f"## Setting `{setting}`", "", setting_line(records), "",
             f"{len(finished)} finished runs, {len(records) - len(finished)} unfinished; "
             f"cells: test mIoU (%) mean ± sample std over seeds (n = seeds, {seeds} planned). "
             f"The supervised baseline has no teacher: its row is the student.", ""]
    tables = {label: aggregate(finished, which, metric) for which, label in WHICH.items()}
    for label, cells in tables.items():
        diff = difference_row(cells, t1_ratios, "mvpmatch", "unimatch_v2")
        lines += [f"### Table 1 — test mIoU of the {label} vs label ratio", "",
                  markdown_table(cells, t1_methods, t1_ratios, [("Δ MvpMatch − UniMatch V2", diff)]), ""]
    for label, cells in tables.items():
        lines += [f"### Table 2 — ablation, test mIoU of the {label}", "",
                  markdown_table(cells, t2_methods, t2_ratios), ""]
    stem = f"{name}_{setting}"
    methods_all = list(dict.fromkeys([*t1_methods, *t2_methods]))
    lines += ["### Checkpoint selection and teacher lag", "",
              "Over all finished runs of a method: in how many the val-selected checkpoint scores exactly "
              "like the final weights on test, and the final student minus the final teacher "
              "(test mIoU points; the supervised baseline has no teacher).", "",
              selection_and_lag_table(finished, methods_all, metric), ""]
    plot = plot_miou_vs_ratio(tables, t1_methods, t1_ratios, out_dir / f"{stem}_miou.png",
                              f"{setting}: test mIoU vs label ratio (mean ± std over seeds)")
    lines += [f"![mIoU vs label ratio]({plot.name})", ""]
    column = spec["mask_ratio"]
    raw: dict[tuple[str, str], list[pd.Series]] = {}
    for record in finished:
        curve = read_curve(record, column)
        if curve is not None:
            raw.setdefault((record.method, record.ratio), []).append(curve)
    mask_plot = plot_mask_ratio(mean_curves(raw), [m for m in methods_all if m != "supervised"], t1_ratios,
                                out_dir / f"{stem}_mask_ratio.png", column,
                                f"{setting}: share of unlabelled pixels with teacher confidence ≥ 0.95 "
                                f"(`{column}`), mean ± std over seeds")
    if mask_plot is not None:
        lines += ["### Pseudo-label mask ratio over training", "",
                  f"Fraction of unlabelled pixels whose teacher confidence reaches 0.95 (`{column}`).", "",
                  f"![mask ratio over training]({mask_plot.name})", ""]
    unfinished = sorted(_display(r.run_dir) for r in records if not r.finished and r.run_dir is not None)
    if unfinished:
        lines += ["Unfinished runs (no metrics.json yet; `make sweep` resumes them):", "",
                  *[f"* `{path}`" for path in unfinished], ""]
    return lines


def _display(path: Path) -> str:
    """A path relative to the working directory (the repository root under make) when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def write_report(records: Sequence[RunRecord], spec: dict[str, Any], out_dir: Path, name: str,
                 source: str = "") -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Label-ratio study (semiseg)", "",
             f"Written by `make report PROJECT=semiseg` on {stamp} from the run folders under `{source}`.",
             "Protocol: every \"best\" decision (the val-selected checkpoint, the historical queue) uses the "
             "validation split; the test split is only evaluated, for the final teacher and for the "
             "val-selected teacher.", ""]
    settings = sorted({r.setting for r in records})
    if not settings:
        lines += ["No run folders found yet: `make sweep PROJECT=semiseg SWEEP=label_ratios`.", ""]
    for setting in settings:
        lines += setting_section(setting, [r for r in records if r.setting == setting], spec, out_dir, name)
    path = out_dir / f"{name}.md"
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


def run(cfg: DictConfig) -> dict[str, Any]:
    spec: dict[str, Any] = OmegaConf.to_container(cfg.report, resolve=True)  # type: ignore[assignment]
    root = Path(spec["runs"])
    records = collect_runs(root) if root.is_dir() else []
    if not records:  # never overwrite a committed report with an empty one
        raise DataError(f"no run folders under {root} (report.runs); run a sweep first, e.g. "
                        f"`make sweep PROJECT=semiseg SWEEP=label_ratios`")
    path = write_report(records, spec, Path(spec["output_dir"]), spec["name"], source=_display(root))
    finished = sum(r.finished for r in records)
    print(f"report ({finished} finished / {len(records)} runs) -> {path}")
    return {"report": str(path), "runs": len(records), "finished": finished}
