"""Tables as data: a YAML spec (``configs/<project>/report/<table>.yaml``) names the runs of each row and
column by their config values; :func:`build_table` fills the cells from run records, :func:`to_markdown`
and :func:`to_json` write them.

A spec (every key but ``rows`` and ``columns`` optional)::

    title: "**Table 3 analogue** (test split, val-selected checkpoint)"   # line above the table
    setting: fashion_top15        # sweep folder(s) <runs>/<setting>/ the runs come from (str or list)
    where: {data.dataset: fashion_top15}   # every run of the table has these config values
    which: best                   # metrics of the val-selected checkpoint ("best/...") or "final"
    metric: test/acc              # default metric of the cells (a list: the first one a run has)
    scale: 100                    # value x scale, written with `digits` decimals
    digits: 1
    row_header: Model
    rows:                         # id (default: label), label, match, and optionally metric, text, x
      - {id: resnet50, label: ResNet-50, match: {model.name: resnet50}}
    columns:                      # label, and optionally match, metric, which, scale, digits, show, key
      - {label: Accuracy, metric: test/acc}
      - {label: Params (M), metric: test/params_m, show: first, scale: 1, digits: 2}
      - {label: seeds, show: values, key: seed}
    differences: [{label: "Δ a − b", minuend: a, subtrahend: b}]    # rows: difference of the means
    # optionally paired_by: seed -- also the per-seed differences of the runs both cells share, and their paired t
    wrap: 1                       # >1: the rows in that many side-by-side blocks (long metric lists)
    plot: {xlabel: ..., ylabel: ..., title: ..., xscale: log}       # a PNG: cell columns vs each row's x
    # (plot: {lines: rows, xbase: 2, ...}: one line per row over the columns' x instead)
    sweep: table3                 # the sweep(s) that make the runs (str or list): named under missing rows
    frozen: false                 # true: rendered from the committed <table>.json alone (shared/report/frozen.py)
    bench: false                  # true: the cells from the project's bench results (shared/report/bench_table.py)
    stamp: cutout_setting         # a bench table: the results' text key quoted under it

A cell holds the finished runs that match the table, its row and its column; ``show`` is ``cell``
(mean ± std, n), ``first`` (the first run's value, e.g. a parameter count), ``mean`` (the runs' mean alone,
beside a ``cell`` column that shows their spread and n), ``values`` (each run's
config ``key``), ``epochs`` (each run's trained epochs) or ``text`` (the row's ``text`` for the column,
which also replaces any other cell of that row). A row that no finished run matches (and whose ``text``
quotes no number, as a published row does) is missing: its cells are "–", the JSON flags them
``"missing": true`` and the README names the row under the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import OmegaConf

from shared.errors import ConfigError
from shared.report.cells import (
    MISSING,
    Cell,
    cell_of,
    format_cell,
    format_difference,
    format_number,
    metric_value,
    paired_test,
)
from shared.report.runs import RunRecord, epochs_run

SHOW = ("cell", "first", "mean", "values", "epochs", "text")


@dataclass(frozen=True)
class Row:
    label: str
    id: str = ""
    match: dict[str, Any] = field(default_factory=dict)
    metric: str | list[str] | None = None
    text: dict[str, str] = field(default_factory=dict)
    x: float | None = None


@dataclass(frozen=True)
class Column:
    label: str
    match: dict[str, Any] = field(default_factory=dict)
    metric: str | list[str] | None = None
    which: str | None = None
    scale: float | None = None
    digits: int | None = None
    show: str = "cell"
    key: str | None = None
    x: float | None = None     # the column's place on a ``plot: {lines: rows}`` x axis


@dataclass(frozen=True)
class Difference:
    label: str
    minuend: str
    subtrahend: str
    paired_by: str | None = None    # a config key (seed): pair the two cells' runs that share its value


@dataclass(frozen=True)
class TableSpec:
    name: str
    rows: tuple[Row, ...]
    columns: tuple[Column, ...]
    title: str = ""
    setting: tuple[str, ...] = ()
    where: dict[str, Any] = field(default_factory=dict)
    which: str | None = "best"
    metric: str | list[str] | None = None
    scale: float = 100.0
    digits: int = 1
    row_header: str = ""
    differences: tuple[Difference, ...] = ()
    wrap: int = 1
    plot: dict[str, Any] | None = None
    sweep: tuple[str, ...] = ()     # the sweep(s) that make the table's runs (make sweep SWEEP=<name>)
    frozen: bool = False            # rendered from its committed JSON alone, never recomputed
    bench: bool = False             # the cells from the project's bench results (shared/report/bench_table.py)
    stamp: str | None = None        # a bench table: the results' text key quoted under it (how / when measured)

    def column_which(self, column: Column) -> str | None:
        return column.which if column.which is not None else self.which

    def cell_metric(self, row: Row, column: Column) -> str | list[str] | None:
        """The cell's metric name(s); ``{row}`` in a name stands for the row's id (a bench key per row)."""
        metric = column.metric or row.metric or self.metric
        if isinstance(metric, str):
            return metric.replace("{row}", row.id)
        return None if metric is None else [m.replace("{row}", row.id) for m in metric]

    def scale_of(self, column: Column) -> tuple[float, int]:
        return (self.scale if column.scale is None else column.scale,
                self.digits if column.digits is None else column.digits)


# -- specs -----------------------------------------------------------------------------------------
def _make(cls: type, data: Any, where: str) -> Any:
    """``cls(**data)`` with a ConfigError naming ``where`` and the key for an unknown or missing key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    try:
        return cls(**data)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def parse_spec(name: str, data: dict[str, Any], source: str = "") -> TableSpec:
    """A table spec from its YAML mapping (``source``: the file, for messages)."""
    where = source or f"table {name}"
    data = dict(data)
    rows = tuple(_row(_make(Row, r, f"{where}: rows[{i}]")) for i, r in enumerate(data.pop("rows", None) or []))
    columns = tuple(_make(Column, c, f"{where}: columns[{i}]") for i, c in enumerate(data.pop("columns", None) or []))
    diffs = tuple(_make(Difference, d, f"{where}: differences[{i}]")
                  for i, d in enumerate(data.pop("differences", None) or []))
    setting, sweep = (_names(data.pop(key, ())) for key in ("setting", "sweep"))
    spec = _make(TableSpec, {"name": name, "rows": rows, "columns": columns, "differences": diffs,
                             "setting": setting, "sweep": sweep, **data}, where)
    if not rows or not columns:
        raise ConfigError(f"{where}: a table needs rows and columns")
    if spec.frozen and not spec.sweep:
        raise ConfigError(f"{where}: a frozen table needs `sweep` (the sweep that would re-make its runs)")
    if spec.bench and spec.frozen:
        raise ConfigError(f"{where}: a table is either frozen (its own JSON) or bench (the bench results), not both")
    for column in columns:
        if column.show not in SHOW:
            raise ConfigError(f"{where}: column {column.label!r}: show must be one of {', '.join(SHOW)}")
        has_metric = column.metric or spec.metric or all(r.metric for r in rows)
        if column.show in ("cell", "first", "mean") and not has_metric:
            raise ConfigError(f"{where}: column {column.label!r} has no metric (set it on the column, the table "
                              f"or every row)")
        if column.show == "values" and not column.key:
            raise ConfigError(f"{where}: column {column.label!r}: show=values needs `key` (a config key)")
    ids = {r.id for r in rows}
    for diff in diffs:
        for rid in (diff.minuend, diff.subtrahend):
            if rid not in ids:
                raise ConfigError(f"{where}: difference {diff.label!r} names no row {rid!r}")
    return spec


def _names(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value or ())


def _row(row: Row) -> Row:
    return row if row.id else Row(**{**row.__dict__, "id": row.label})


def load_specs(folder: Path) -> list[TableSpec]:
    """Every ``<folder>/<table>.yaml``, sorted by name (none: an empty list)."""
    specs = []
    for path in sorted(Path(folder).glob("*.yaml")):
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
        specs.append(parse_spec(path.stem, data, source=str(path)))  # type: ignore[arg-type]
    return specs


# -- building --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Table:
    spec: TableSpec
    text: dict[tuple[str, str], str]            # (row id, column label) -> what the cell shows
    cells: dict[tuple[str, str], Cell | None]   # the mean ± std cells (show=cell columns)
    unfinished: tuple[RunRecord, ...] = ()
    missing: tuple[str, ...] = ()                # ids of the rows no finished run matches
    records: Mapping[str, RunRecord] = field(default_factory=dict)   # run folder -> record, for the cells' runs
    shown_differences: Mapping[str, Sequence[str]] = field(default_factory=dict)   # a frozen table's, by label

    @property
    def has_runs(self) -> bool:
        """At least one cell holds a measured value."""
        return any(cell is not None for cell in self.cells.values())

    @property
    def runs(self) -> list[str]:
        return sorted({run for cell in self.cells.values() if cell is not None for run in cell.runs})


def table_runs(spec: TableSpec, records: Sequence[RunRecord]) -> list[RunRecord]:
    """The records of the table's settings that satisfy its ``where``."""
    return [r for r in records if (not spec.setting or r.setting in spec.setting) and r.matches(spec.where)]


def build_table(spec: TableSpec, records: Sequence[RunRecord]) -> Table:
    pool = table_runs(spec, records)
    text: dict[tuple[str, str], str] = {}
    cells: dict[tuple[str, str], Cell | None] = {}
    used: set[Path] = set()
    missing = []
    for row in spec.rows:
        row_runs = [r for r in pool if r.matches(row.match)]
        measured = [c for c in spec.columns if c.show != "text"]
        quoted = any(c.label in row.text for c in measured)   # e.g. a published number: no run of ours
        if measured and not quoted and not any(r.finished and r.matches(c.match) for r in row_runs for c in measured):
            missing.append(row.id)
        for column in spec.columns:
            runs = sorted((r for r in row_runs if r.matches(column.match)), key=lambda r: r.name)
            used.update(r.run_dir for r in runs)
            key = (row.id, column.label)
            if column.show == "cell":
                cells[key] = cell_of(runs, spec.column_which(column), spec.cell_metric(row, column) or ())
            text[key] = row.text[column.label] if column.label in row.text else _show(spec, row, column, runs,
                                                                                    cells.get(key))
    unfinished = tuple(r for r in pool if not r.finished and r.run_dir in used)
    records = {str(r.run_dir): r for r in pool if r.run_dir in used}
    return Table(spec=spec, text=text, cells=cells, unfinished=unfinished, missing=tuple(missing), records=records)


def _show(spec: TableSpec, row: Row, column: Column, runs: list[RunRecord], cell: Cell | None) -> str:
    scale, digits = spec.scale_of(column)
    finished = [r for r in runs if r.finished]
    if column.show == "cell":
        return format_cell(cell, scale, digits)
    if column.show in ("first", "mean"):
        metric = spec.cell_metric(row, column) or ()
        found = [v for r in finished if (v := metric_value(r, spec.column_which(column), metric)) is not None]
        if not found:
            return MISSING
        return format_number(found[0] if column.show == "first" else sum(found) / len(found), scale, digits)
    if column.show == "values":
        return ", ".join(str(r.value(column.key or "")) for r in finished) or MISSING
    if column.show == "epochs":
        return ", ".join(str(e) for r in finished if (e := epochs_run(r.run_dir)) is not None) or MISSING
    return ""   # show=text without a text for this row


def seed_pairs(table: Table, diff: Difference, column: Column) -> list[float]:
    """Minuend − subtrahend (raw values) for each ``diff.paired_by`` value that both cells' runs share, in the
    minuend's run order; [] without ``paired_by`` or for a frozen table's cells (no records)."""
    if not diff.paired_by:
        return []
    minuend, subtrahend = (_values_by_key(table, row_id, column, diff) for row_id in (diff.minuend, diff.subtrahend))
    return [value - subtrahend[key] for key, value in minuend.items() if key in subtrahend]


def pairs_per_column(table: Table, diff: Difference) -> list[list[float]]:
    """:func:`seed_pairs` of every column ([] for the columns that are not mean ± std cells)."""
    return [seed_pairs(table, diff, c) if c.show == "cell" else [] for c in table.spec.columns]


def _values_by_key(table: Table, row_id: str, column: Column, diff: Difference) -> dict[Any, float]:
    cell, spec = table.cells.get((row_id, column.label)), table.spec
    row = next(r for r in spec.rows if r.id == row_id)
    out: dict[Any, float] = {}
    for run in cell.runs if cell else ():
        record = table.records.get(run)
        if record is None:
            continue
        key = record.value(str(diff.paired_by))
        if key is None:
            raise ConfigError(f"table {spec.name}: difference {diff.label!r}: run {run} has no config key "
                              f"{diff.paired_by!r} to pair by")
        if key in out:
            raise ConfigError(f"table {spec.name}: difference {diff.label!r}: two runs of {row.label!r} / "
                              f"{column.label!r} share {diff.paired_by} = {key!r}, so they cannot be paired")
        value = metric_value(record, spec.column_which(column), spec.cell_metric(row, column) or ())
        if value is not None:
            out[key] = value
    return out


def difference_cells(table: Table, diff: Difference, pairs: Sequence[Sequence[float]] | None = None) -> list[str]:
    """The difference row: per cell column, minuend mean − subtrahend mean ("–" where one is missing), with
    the seed pairs and their paired t when the difference is ``paired_by`` a key (``pairs``: per column, as
    :func:`seed_pairs` gives them; computed here when not given)."""
    if diff.label in table.shown_differences:
        return list(table.shown_differences[diff.label])
    pairs = pairs_per_column(table, diff) if pairs is None else pairs
    out = []
    for column, column_pairs in zip(table.spec.columns, pairs):
        if column.show != "cell":
            out.append("")
            continue
        scale, digits = table.spec.scale_of(column)
        out.append(format_difference(table.cells.get((diff.minuend, column.label)),
                                     table.cells.get((diff.subtrahend, column.label)), scale, digits, column_pairs))
    return out


def _difference_json(table: Table, diff: Difference) -> dict[str, Any]:
    pairs = pairs_per_column(table, diff)
    entry: dict[str, Any] = {"label": diff.label, "values": difference_cells(table, diff, pairs)}
    if diff.paired_by:
        tests = [paired_test(p) for p in pairs]
        entry.update({"paired_by": diff.paired_by, "pairs": pairs, "paired_t": [t[0] if t else None for t in tests],
                      "paired_p": [t[1] if t else None for t in tests]})
    return entry


# -- writing ---------------------------------------------------------------------------------------
def markdown_rows(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table of text cells (pandas + tabulate; no number parsing, so "0.00" stays)."""
    frame = pd.DataFrame([list(row) for row in rows], columns=list(header))
    return frame.to_markdown(index=False, tablefmt="github", disable_numparse=True)


def to_markdown(table: Table) -> str:
    """The markdown table (rows in spec order, then the difference rows; ``wrap`` side-by-side blocks)."""
    spec = table.spec
    header = [spec.row_header, *(c.label for c in spec.columns)]
    body = [[row.label, *(table.text[(row.id, c.label)] for c in spec.columns)] for row in spec.rows]
    body += [[diff.label, *difference_cells(table, diff)] for diff in spec.differences]
    if spec.wrap <= 1:
        return markdown_rows(header, body)
    per = -(-len(body) // spec.wrap)
    blocks = [body[i * per:(i + 1) * per] for i in range(spec.wrap)]
    wide = [sum((blk[i] if i < len(blk) else [""] * len(header) for blk in blocks), []) for i in range(per)]
    return markdown_rows(header * spec.wrap, wide)


def to_json(table: Table, source: str = "") -> dict[str, Any]:
    """Machine-readable table: every cell with its text and, for mean ± std cells, the raw (unscaled)
    mean, sample std (null for one run), n and the run folders."""
    spec = table.spec
    cells = []
    for row in spec.rows:
        for column in spec.columns:
            key = (row.id, column.label)
            entry: dict[str, Any] = {"row": row.label, "row_id": row.id, "column": column.label,
                                     "text": table.text[key]}
            if row.id in table.missing:
                entry["missing"] = True
            if column.show == "cell":
                cell = table.cells.get(key)
                scale, _ = spec.scale_of(column)
                entry.update({"mean": cell.mean if cell else None, "std": cell.std if cell else None,
                              "n": cell.n if cell else 0, "runs": [in_repo(r) for r in cell.runs] if cell else [],
                              "scale": scale,
                              "which": spec.column_which(column), "metric": spec.cell_metric(row, column)})
            cells.append(entry)
    return {"table": spec.name, "title": spec.title, "source": source, "settings": list(spec.setting),
            "std": "sample std (ddof 1) over runs; null for a single run",
            "cells": cells, "differences": [_difference_json(table, d) for d in spec.differences],
            "unfinished": sorted(in_repo(r.run_dir) for r in table.unfinished)}


def in_repo(path: str | Path) -> str:
    """A run folder as committed JSON names it: relative to the repository (the same on every clone)."""
    from shared.paths import REPO_ROOT

    try:
        return Path(path).resolve().relative_to(REPO_ROOT.resolve()).as_posix()
    except ValueError:
        return str(path)
