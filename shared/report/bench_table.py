"""Bench tables: a table spec with ``bench: true`` is filled from the project's bench results (``bench.output``,
``benchmarks/results/<project>.json``, written by ``make bench PROJECT=<p>``) instead of run folders. The file is
one record whose metrics are its keys; a cell's metric may name its row as ``{row}`` (``s_per_click_1mp_{row}``:
one key per row and column). ``stamp`` names a text key of the file quoted under the table (how and when it was
measured).

The file missing or damaged, or a cell's key absent from it, is a DataError naming the file and the command that
re-makes it: a bench that did not measure a row is a damaged source, never a blank cell.
"""

from __future__ import annotations

from pathlib import Path

from shared.errors import DataError
from shared.files import read_json
from shared.report.cells import metric_value
from shared.report.runs import RunRecord
from shared.report.tables import TableSpec


def remake(project: str) -> str:
    return f"re-make it with `make bench PROJECT={project}`"


def read_bench(path: Path, project: str) -> RunRecord:
    """The bench results file as one record (its keys are the metrics)."""
    data = read_json(path, "no bench results", remake(project))
    if not isinstance(data, dict):
        raise DataError(f"{path}: not a bench results file (a JSON object of keys); {remake(project)}")
    return RunRecord(setting="bench", run_dir=Path(path).parent, metrics=data)


def check_measured(spec: TableSpec, record: RunRecord, path: Path, project: str) -> None:
    """Every number cell of ``spec`` has its key in the bench results."""
    for row in spec.rows:
        for column in spec.columns:
            if column.show == "text" or column.label in row.text:
                continue
            metric = spec.cell_metric(row, column) or ()
            if metric_value(record, spec.column_which(column), metric) is None:
                raise DataError(f"{path}: no number for {metric!r} (table {spec.name}, row {row.id!r}, column "
                                f"{column.label!r}); add the row to the bench's settings and {remake(project)}")


def bench_note(spec: TableSpec, record: RunRecord, shown_path: str, project: str) -> str:
    """The line under a bench table: the file it came from, its ``stamp`` text and the command that re-makes it."""
    stamp = record.metrics.get(spec.stamp) if spec.stamp else None
    if spec.stamp and not isinstance(stamp, str):
        raise DataError(f"{shown_path}: no text key {spec.stamp!r} (table {spec.name}'s stamp); {remake(project)}")
    measured = f" ({stamp})" if stamp else ""
    return (f"Rendered by `make report PROJECT={project}` from `{shown_path}`{measured}, written by "
            f"`make bench PROJECT={project}`.")
