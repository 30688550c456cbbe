"""Report figures (headless matplotlib, PNG)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.plots import plt
from shared.report.style import method_style
from shared.report.tables import Table


def save_figure(fig: Any, path: Path, title: str = "", axes: Sequence[Any] = (), legend_space: float = 0.0) -> Path:
    """One legend below the panels (every label drawn in any of ``axes``), wrapped title, PNG at ``path``."""
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles and legend_space:
        fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(5, len(handles)), fontsize=8,
                   frameon=False)
    if title:
        fig.suptitle(textwrap.fill(title, width=max(60, 14 * len(fig.axes))), fontsize=10)
    fig.tight_layout(rect=(0, legend_space, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_table(table: Table, path: Path) -> Path | None:
    """Each cell column as a line over the rows' ``x`` (mean ± sample std error bars, n beside each
    point), as the spec's ``plot`` block says (xlabel, ylabel, title, xscale); with ``lines: rows`` each
    row as a line over the columns' ``x`` instead. None when nothing to draw."""
    spec, opts = table.spec, table.spec.plot or {}
    if opts.get("lines") == "rows":
        return plot_rows(table, path)
    rows = [r for r in spec.rows if r.x is not None]
    columns = [c for c in spec.columns if c.show == "cell"]
    if not rows or not columns or not table.has_runs:
        return None
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    order = [c.label for c in columns]
    for column in columns:
        scale, _ = spec.scale_of(column)
        points = [(r.x, cell) for r in rows if (cell := table.cells.get((r.id, column.label))) is not None]
        if not points:
            continue
        xs = [x for x, _ in points]
        ax.errorbar(xs, [c.mean * scale for _, c in points], yerr=[(c.std or 0.0) * scale for _, c in points],
                    capsize=3, label=column.label, **method_style(column.label, order))
        for x, c in points:
            if c.n is not None:
                ax.annotate(f"n={c.n}", (x, c.mean * scale), textcoords="offset points", xytext=(4, -12), fontsize=7)
    xs_all = [r.x for r in rows]
    if opts.get("xscale"):
        ax.set_xscale(opts["xscale"])
    ax.set_xticks(xs_all, [r.label for r in rows])
    return _finish(fig, ax, path, opts, spec.title)


def plot_rows(table: Table, path: Path) -> Path | None:
    """One line per row over the cell columns' ``x`` (mean ± sample std error bars; on a log axis the lines
    are nudged apart sideways so that overlapping bars stay readable), ``plot``: xlabel, ylabel, title,
    xscale, xbase."""
    spec, opts = table.spec, table.spec.plot or {}
    columns = [c for c in spec.columns if c.show == "cell" and c.x is not None]
    if not columns or not table.has_runs:
        return None
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    order = [r.id for r in spec.rows]
    log = opts.get("xscale") == "log"
    for i, row in enumerate(spec.rows):
        points = [(c, cell) for c in columns if (cell := table.cells.get((row.id, c.label))) is not None]
        if not points:
            continue
        scale, _ = spec.scale_of(points[0][0])
        nudge = 1.0 + 0.03 * (i - (len(spec.rows) - 1) / 2) if log else 1.0
        xs = [float(c.x or 0.0) * nudge for c, _ in points]
        means = [cell.mean * scale for _, cell in points]
        ax.errorbar(xs, means, yerr=[(cell.std or 0.0) * scale for _, cell in points], capsize=3, label=row.label,
                    **method_style(row.id, order))
    if log:
        ax.set_xscale("log", base=opts.get("xbase", 10))
    ax.set_xticks([c.x for c in columns], [c.label for c in columns])
    return _finish(fig, ax, path, opts, spec.title)


def _finish(fig, ax, path: Path, opts: dict, title: str) -> Path:
    """Labels, grid and legend of a report plot, then the file."""
    ax.minorticks_off()
    ax.set_xlabel(opts.get("xlabel", ""))
    ax.set_ylabel(opts.get("ylabel", ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path, opts.get("title", title))
