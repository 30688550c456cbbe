"""Rows kept from a table's committed JSON: a row none of whose runs is on this machine (made before run
folders were archived, shared/report/archive.py) keeps the cells ``make report`` wrote for it last time,
instead of turning into dashes when another row of the same table is re-run. Such rows are named under
the table and flagged ``"kept": true`` in the JSON; a run of that row (live or archived) replaces them.
A table whose JSON was never committed (made before the reports wrote JSON) keeps the row's cells from its
current README block instead (means and stds read back from the text; ``n`` where the text shows it, else unknown)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from shared.report.cells import MISSING, Cell
from shared.report.readme import read_block
from shared.report.tables import Table

_NUMBER = re.compile(r"^([-+]?\d+(?:\.\d+)?)(?: ± (\d+(?:\.\d+)?))?(?: \(n=(\d+)\))?$")


def _committed_cells(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The committed JSON's cells by (row id, column): a row is its identity, never its label (several rows
    may share a label, e.g. "Ours (WBH)" at k = 1, 3, 5, 10)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {(c["row_id"], c["column"]): c for c in data.get("cells", []) if "row_id" in c and "column" in c}


def _readme_cells(readme: Path, table: Table) -> dict[tuple[str, str], dict[str, Any]]:
    """The cells of ``table``'s current README block in the JSON's shape (row and column by label; a
    side-by-side ``wrap`` block is read chunk by chunk)."""
    block = read_block(readme, table.spec.name)
    if block is None:
        return {}
    lines = [line.strip() for line in block.splitlines() if line.strip().startswith("|")]
    if len(lines) < 3:
        return {}
    width = 1 + len(table.spec.columns)
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    scales = {c.label: table.spec.scale_of(c)[0] for c in table.spec.columns}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for line in lines[2:]:
        values = [c.strip() for c in line.strip("|").split("|")]
        for at in range(0, min(len(values), len(header)) - width + 1, width):
            row, labels, cells = values[at], header[at + 1:at + width], values[at + 1:at + width]
            for label, shown in zip(labels, cells):
                entry: dict[str, Any] = {"row": row, "column": label, "text": shown}
                number = _NUMBER.match(shown)
                if number and label in scales:
                    scale = scales[label] or 1.0
                    entry.update(mean=float(number[1]) / scale,
                                 std=None if number[2] is None else float(number[2]) / scale,
                                 n=int(number[3]) if number[3] else None)   # not shown: unknown
                found[(row, label)] = entry
    return found


def _by_row_id(cells: dict[tuple[str, str], dict[str, Any]], table: Table) -> dict[tuple[str, str], dict[str, Any]]:
    """README cells (keyed by the label shown) by row id; a label that several rows share is ambiguous
    and kept for none of them."""
    ids: dict[str, list[str]] = {}
    for row in table.spec.rows:
        ids.setdefault(row.label, []).append(row.id)
    return {(ids[label][0], column): entry for (label, column), entry in cells.items() if len(ids.get(label, [])) == 1}


def _measured(entry: dict[str, Any] | None) -> bool:
    return bool(entry) and entry.get("mean") is not None and (entry.get("n") is None or int(entry["n"]) > 0)


def keep_committed_rows(table: Table, committed_json: Path, readme: Path | None = None) -> Table:
    """``table`` with every row that has no measured cell filled from ``committed_json`` (where that file
    has measured cells for the row's label), or, with no such file, from the table's block in ``readme``."""
    committed = _committed_cells(committed_json)
    if not committed and readme is not None and not Path(committed_json).is_file():
        committed = _by_row_id(_readme_cells(readme, table), table)
    if not committed:
        return table
    spec = table.spec
    cell_columns = [c.label for c in spec.columns if c.show == "cell"]
    text, cells, kept = dict(table.text), dict(table.cells), []
    for row in spec.rows:
        if not cell_columns or any(table.cells.get((row.id, label)) is not None for label in cell_columns):
            continue
        if not any(_measured(committed.get((row.id, label))) for label in cell_columns):
            continue
        for column in spec.columns:
            entry = committed.get((row.id, column.label))
            if entry is None:
                continue
            key = (row.id, column.label)
            text[key] = str(entry.get("text", MISSING))
            if column.show == "cell" and _measured(entry):
                std = None if entry.get("std") is None else float(entry["std"])
                n = None if entry.get("n") is None else int(entry["n"])
                cells[key] = Cell(mean=float(entry["mean"]), std=std, n=n,
                                  runs=tuple(entry.get("runs") or ()))
        kept.append(row.id)
    return replace(table, text=text, cells=cells, kept=tuple(kept)) if kept else table


def kept_note(table: Table, json_name: str) -> str:
    """The line under a table that names its kept rows."""
    labels = [row.label for row in table.spec.rows if row.id in table.kept]
    return (f"Rows kept from the committed `{json_name}` or this block (their run folders predate the run archive "
            f"and are not on this machine; `make sweep` re-makes them): {'; '.join(labels)}.")
