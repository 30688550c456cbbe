"""Rows kept from a table's committed JSON: a row none of whose runs is on this machine (made before run
folders were archived, shared/report/archive.py) keeps the cells ``make report`` wrote for it last time,
instead of turning into dashes when another row of the same table is re-run. Such rows are named under
the table and flagged ``"kept": true`` in the JSON; a run of that row (live or archived) replaces them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from shared.report.cells import MISSING, Cell
from shared.report.tables import Table


def _committed_cells(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {(c["row"], c["column"]): c for c in data.get("cells", []) if "row" in c and "column" in c}


def _measured(entry: dict[str, Any] | None) -> bool:
    return bool(entry) and entry.get("mean") is not None and int(entry.get("n") or 0) > 0


def keep_committed_rows(table: Table, committed_json: Path) -> Table:
    """``table`` with every row that has no measured cell filled from ``committed_json`` (where that file
    has measured cells for the row's label)."""
    committed = _committed_cells(committed_json)
    if not committed:
        return table
    spec = table.spec
    cell_columns = [c.label for c in spec.columns if c.show == "cell"]
    text, cells, kept = dict(table.text), dict(table.cells), []
    for row in spec.rows:
        if not cell_columns or any(table.cells.get((row.id, label)) is not None for label in cell_columns):
            continue
        if not any(_measured(committed.get((row.label, label))) for label in cell_columns):
            continue
        for column in spec.columns:
            entry = committed.get((row.label, column.label))
            if entry is None:
                continue
            key = (row.id, column.label)
            text[key] = str(entry.get("text", MISSING))
            if column.show == "cell" and _measured(entry):
                std = None if entry.get("std") is None else float(entry["std"])
                cells[key] = Cell(mean=float(entry["mean"]), std=std, n=int(entry["n"]),
                                  runs=tuple(entry.get("runs") or ()))
        kept.append(row.id)
    return replace(table, text=text, cells=cells, kept=tuple(kept)) if kept else table


def kept_note(table: Table, json_name: str) -> str:
    """The line under a table that names its kept rows."""
    labels = [row.label for row in table.spec.rows if row.id in table.kept]
    return (f"Rows kept from the committed `{json_name}` (their run folders predate the run archive and are "
            f"not on this machine; `make sweep` re-makes them): {'; '.join(labels)}.")
