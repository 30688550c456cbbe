"""``make report PROJECT=<p>``: every table of ``configs/<p>/report/*.yaml`` from the sweep run folders,
written as ``<output_dir>/<table>.json`` (+ ``<table>.png`` for a table with a ``plot``) and into the
project README between the table's markers. A table with no measured cell is skipped: its README block
and files stay as they are."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from shared.errors import DataError
from shared.files import write_atomic
from shared.paths import CONFIG_ROOT
from shared.report.archive import collect_with_archive
from shared.report.kept import keep_committed_rows, kept_note
from shared.report.plots import plot_table
from shared.report.readme import markers, write_block
from shared.report.runs import FieldsFn, RunRecord
from shared.report.tables import Table, TableSpec, build_table, load_specs, to_json, to_markdown


@dataclass(frozen=True)
class ReportPaths:
    runs: Path         # <runs>/<setting>/<run>/ (the sweeps' folders)
    readme: Path       # the README with the tables' markers
    output_dir: Path   # <table>.json and .png
    tables: Path       # the table specs, <tables>/<table>.yaml
    archive: Path | None = None   # the committed copies of finished runs (shared/report/archive.py)


def report_paths(cfg: DictConfig) -> ReportPaths:
    """The ``report:`` block of a project config (runs, archive, readme, output_dir); specs in
    configs/<project>/report/."""
    spec = cfg.report
    return ReportPaths(runs=Path(spec.runs), readme=Path(spec.readme), output_dir=Path(spec.output_dir),
                       tables=CONFIG_ROOT / str(cfg.project) / "report", archive=Path(spec.archive))


def display(path: Path) -> str:
    """A path relative to the working directory (the repository root under make) when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def readme_block(table: Table, readme: Path, png: Path | None, json_path: Path) -> str:
    parts = [table.spec.title, "", to_markdown(table)] if table.spec.title else [to_markdown(table)]
    if table.kept:
        parts += ["", kept_note(table, display(json_path))]
    if png is not None:
        alt = (table.spec.plot or {}).get("title") or table.spec.name
        parts += ["", f"![{alt}]({os.path.relpath(png, readme.parent)})"]
    return "\n".join(parts)


def write_table(table: Table, paths: ReportPaths) -> dict[str, Any]:
    """The table's JSON, PNG and README block; what was written."""
    name = table.spec.name
    out_json = paths.output_dir / f"{name}.json"
    data = to_json(table, source=display(paths.runs))
    write_atomic(out_json, lambda f: f.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n"))
    png = plot_table(table, paths.output_dir / f"{name}.png") if table.spec.plot else None
    in_readme = write_block(paths.readme, name, readme_block(table, paths.readme, png, out_json))
    return {"table": name, "json": str(out_json), "png": str(png) if png else None, "readme": in_readme,
            "runs": len(table.runs), "unfinished": len(table.unfinished)}


def write_tables(specs: Sequence[TableSpec], records: Sequence[RunRecord], paths: ReportPaths) -> list[dict[str, Any]]:
    """Every table that has a measured cell; the others are reported as kept."""
    written = []
    for spec in specs:
        table = keep_committed_rows(build_table(spec, records), paths.output_dir / f"{spec.name}.json",
                                    paths.readme)
        if not table.has_runs:
            print(f"{spec.name}: no finished runs in {', '.join(spec.setting) or 'any setting'}: "
                  f"README block and reports left as they are")
            continue
        result = write_table(table, paths)
        start, _ = markers(spec.name)
        where = display(paths.readme) if result["readme"] else f"no {start} block in {display(paths.readme)}"
        files = ", ".join(display(Path(result[k])) for k in ("json", "png") if result[k])
        print(f"{spec.name}: {result['runs']} runs, {result['unfinished']} unfinished -> {files}; {where}")
        for run in table.unfinished:
            print(f"  unfinished (no metrics.json; `make sweep` resumes it): {display(run.run_dir)}")
        written.append(result)
    return written


def load_records(paths: ReportPaths, project: str, fields: FieldsFn | None = None) -> list[RunRecord]:
    """The run records under ``paths.runs``; a DataError (nothing written) when there are none."""
    records = collect_with_archive(paths.runs, paths.archive, fields)
    if not records:
        where = f"{paths.runs} (report.runs)" + (f" or {paths.archive} (report.archive)" if paths.archive else "")
        raise DataError(f"no run folders under {where}; run a sweep first, e.g. "
                        f"`make sweep PROJECT={project} SWEEP=<name>` (configs/{project}/sweep/)")
    return records


def run(cfg: DictConfig) -> dict[str, Any]:
    """The ``report`` task of a project whose tables are all data (configs/<project>/report/*.yaml)."""
    paths = report_paths(cfg)
    records = load_records(paths, str(cfg.project))
    written = write_tables(load_specs(paths.tables), records, paths)
    finished = sum(r.finished for r in records)
    print(f"report: {finished} finished / {len(records)} run folders under {display(paths.runs)}, "
          f"{len(written)} tables written")
    return {"tables": written, "runs": len(records), "finished": finished}
