"""Frozen tables: an expensive study whose runs are not archived is written to ``<table>.json`` once and its
spec says ``frozen: true``; ``make report`` then renders it from that JSON alone (never from runs, never
from the README) and says under the table where the numbers came from and how to re-make them.

The JSON has the shape :func:`shared.report.tables.to_json` writes, plus a ``frozen`` stamp::

    "frozen": {"date": "2026-12-06", "commit": "7a76323", "from": "what the cells were read from"}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.errors import DataError
from shared.files import read_json
from shared.report.cells import Cell
from shared.report.tables import Table, TableSpec


def read_frozen(path: Path) -> dict[str, Any]:
    """The frozen table's JSON; a DataError naming the file when it is missing, damaged or unstamped."""
    fix = f"restore it (git checkout -- {path}) or set `frozen: false` in its spec and re-run its sweep"
    data = read_json(path, "the JSON of a frozen table is missing", fix)
    if not (isinstance(data, dict) and isinstance(data.get("cells"), list) and isinstance(data.get("frozen"), dict)):
        raise DataError(f"{path}: not a frozen table's JSON (needs `cells` and a `frozen` stamp); {fix}")
    return data


def frozen_table(spec: TableSpec, path: Path) -> tuple[Table, dict[str, Any]]:
    """``spec``'s table from its committed JSON (rows and columns in the spec's order, matched by row id and
    column label) and the JSON's ``frozen`` stamp."""
    data = read_frozen(path)
    by_key = {(c.get("row_id"), c.get("column")): c for c in data["cells"] if isinstance(c, dict)}
    text: dict[tuple[str, str], str] = {}
    cells: dict[tuple[str, str], Cell | None] = {}
    for row in spec.rows:
        for column in spec.columns:
            entry = by_key.get((row.id, column.label))
            if entry is None:
                raise DataError(f"{path}: no cell for row {row.id!r}, column {column.label!r} of the frozen table; "
                                "the spec and its JSON disagree: restore the JSON or the spec")
            text[(row.id, column.label)] = str(entry.get("text", ""))
            if column.show == "cell":
                cells[(row.id, column.label)] = _cell(entry)
    shown = {d.get("label"): [str(v) for v in d.get("values", [])] for d in data.get("differences", [])}
    for diff in spec.differences:
        if diff.label not in shown:
            raise DataError(f"{path}: no difference row {diff.label!r} in the frozen table's JSON; restore it")
    table = Table(spec=spec, text=text, cells=cells, shown_differences=shown,
                  missing=tuple(r.id for r in spec.rows if any(by_key[(r.id, c.label)].get("missing")
                                                               for c in spec.columns)))
    return table, data["frozen"]


def _cell(entry: dict[str, Any]) -> Cell | None:
    if entry.get("mean") is None:
        return None
    std, n = entry.get("std"), entry.get("n")
    return Cell(mean=float(entry["mean"]), std=None if std is None else float(std), n=None if n is None else int(n),
                runs=tuple(entry.get("runs") or ()))


def frozen_note(spec: TableSpec, stamp: dict[str, Any], json_name: str, project: str) -> str:
    """The line under a frozen table: where its numbers came from and the commands that would re-make it."""
    sweeps = " and ".join(f"`make sweep PROJECT={project} SWEEP={s}`" for s in spec.sweep)
    source = f" from {stamp['from']}" if stamp.get("from") else ""
    return (f"Frozen: rendered from `{json_name}` (written {stamp.get('date', '?')} at commit "
            f"{stamp.get('commit', '?')}{source}), never recomputed: its runs are not archived. To re-make it: "
            f"{sweeps}, then `frozen: false` in `configs/{project}/report/{spec.name}.yaml` and "
            f"`make report PROJECT={project}`.")
