"""``make report PROJECT=<p>``: every table of ``configs/<p>/report/*.yaml`` from the sweep run folders,
written as ``<output_dir>/<table>.json`` (+ ``<table>.png`` for a table with a ``plot``) and into the
project README between the table's markers. A row no finished run matches is written as missing and named
under its table; a frozen table (``frozen: true``) is rendered from its committed JSON alone."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from shared.errors import ConfigError, DataError
from shared.files import write_atomic
from shared.paths import CONFIG_ROOT
from shared.report.archive import collect_with_archive
from shared.report.bench_table import bench_note, check_measured, read_bench
from shared.report.frozen import frozen_note, frozen_table
from shared.report.plots import plot_table
from shared.report.readme import markers, read_block, write_block
from shared.report.runs import FieldsFn, RunRecord
from shared.report.tables import Table, TableSpec, build_table, load_specs, to_json, to_markdown


@dataclass(frozen=True)
class ReportPaths:
    runs: Path         # <runs>/<setting>/<run>/ (the sweeps' folders)
    readme: Path       # the README with the tables' markers
    output_dir: Path   # <table>.json and .png
    tables: Path       # the table specs, <tables>/<table>.yaml
    archive: Path | None = None   # the committed copies of finished runs (shared/report/archive.py)
    project: str = ""             # for the commands named under a table
    bench: Path | None = None     # the bench results (bench.output) that ``bench: true`` tables read


def report_paths(cfg: DictConfig) -> ReportPaths:
    """The ``report:`` block of a project config (runs, archive, readme, output_dir); specs in
    configs/<project>/report/."""
    spec = cfg.report
    bench = (cfg.get("bench") or {}).get("output")
    return ReportPaths(runs=Path(spec.runs), readme=Path(spec.readme), output_dir=Path(spec.output_dir),
                       tables=CONFIG_ROOT / str(cfg.project) / "report", archive=Path(spec.archive),
                       project=str(cfg.project), bench=None if bench is None else Path(str(bench)))


def display(path: Path) -> str:
    """A path relative to the working directory (the repository root under make) when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def sweep_commands(spec: TableSpec, project: str) -> str:
    """The ``make sweep`` command(s) that make the table's runs."""
    if not spec.sweep:
        return f"`make sweep PROJECT={project} SWEEP=<the sweep of {', '.join(spec.setting) or 'its setting'}>`"
    return " and ".join(f"`make sweep PROJECT={project} SWEEP={name}`" for name in spec.sweep)


def missing_note(table: Table, project: str) -> str:
    """The line under a table that names its rows without any finished run."""
    labels = [row.label for row in table.spec.rows if row.id in table.missing]
    return (f"Missing (no finished run, live or archived): {'; '.join(labels)}. "
            f"{sweep_commands(table.spec, project)} make{'s' if len(table.spec.sweep) == 1 else ''} them, then "
            f"`make report PROJECT={project}`.")


def readme_block(table: Table, readme: Path, png: Path | None, notes: Sequence[str] = ()) -> str:
    parts = [table.spec.title, "", to_markdown(table)] if table.spec.title else [to_markdown(table)]
    for note in notes:
        parts += ["", note]
    if png is not None:
        alt = (table.spec.plot or {}).get("title") or table.spec.name
        parts += ["", f"![{alt}]({os.path.relpath(png, readme.parent)})"]
    return "\n".join(parts)


def write_table(table: Table, paths: ReportPaths, source: Path | None = None,
                notes: Sequence[str] = ()) -> dict[str, Any]:
    """The table's JSON, PNG and README block (``notes`` under it); what was written. ``source``: where its
    numbers came from (default: the run folders)."""
    name = table.spec.name
    out_json = paths.output_dir / f"{name}.json"
    data = to_json(table, source=display(paths.runs if source is None else source))
    write_atomic(out_json, lambda f: f.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n"))
    png = plot_table(table, paths.output_dir / f"{name}.png") if table.spec.plot else None
    notes = [*notes, *([missing_note(table, paths.project)] if table.missing else [])]
    in_readme = write_block(paths.readme, name, readme_block(table, paths.readme, png, notes))
    return {"table": name, "json": str(out_json), "png": str(png) if png else None, "readme": in_readme,
            "runs": len(table.runs), "unfinished": len(table.unfinished)}


def write_frozen(spec: TableSpec, paths: ReportPaths) -> dict[str, Any]:
    """A frozen table's README block (and its plot) from its committed JSON, which is never rewritten."""
    json_path = paths.output_dir / f"{spec.name}.json"
    table, stamp = frozen_table(spec, json_path)
    png = plot_table(table, paths.output_dir / f"{spec.name}.png") if spec.plot else None
    notes = [frozen_note(spec, stamp, display(json_path), paths.project)]
    in_readme = write_block(paths.readme, spec.name, readme_block(table, paths.readme, png, notes))
    return {"table": spec.name, "json": str(json_path), "png": str(png) if png else None, "readme": in_readme,
            "runs": 0, "unfinished": 0, "frozen": True}


def write_bench(spec: TableSpec, paths: ReportPaths) -> dict[str, Any]:
    """A bench table from the project's bench results (``shared.report.bench_table``)."""
    if paths.bench is None:
        raise ConfigError(f"table {spec.name} is a bench table, and configs/{paths.project} names no bench results "
                          "file (bench.output)")
    record = read_bench(paths.bench, paths.project)
    check_measured(spec, record, paths.bench, paths.project)
    table = build_table(spec, [record])
    result = write_table(table, paths, paths.bench, [bench_note(spec, record, display(paths.bench), paths.project)])
    print(f"{spec.name}: bench table from {display(paths.bench)} -> {display(Path(result['json']))}")
    return {**result, "runs": 0, "unfinished": 0, "bench": True}


def write_tables(specs: Sequence[TableSpec], records: Sequence[RunRecord], paths: ReportPaths) -> list[dict[str, Any]]:
    """Every table: the frozen ones from their JSON, the bench ones from the bench results, the others from
    ``records``."""
    written = []
    for spec in specs:
        if spec.frozen:
            if read_block(paths.readme, spec.name) is None:   # e.g. a README of other run roots
                print(f"{spec.name}: frozen, and {display(paths.readme)} has no {markers(spec.name)[0]} block: skipped")
                continue
            result = write_frozen(spec, paths)
            print(f"{spec.name}: frozen, rendered from {display(Path(result['json']))}; {display(paths.readme)}")
            written.append(result)
            continue
        if spec.bench:
            written.append(write_bench(spec, paths))
            continue
        table = build_table(spec, records)
        result = write_table(table, paths)
        start, _ = markers(spec.name)
        where = display(paths.readme) if result["readme"] else f"no {start} block in {display(paths.readme)}"
        files = ", ".join(display(Path(result[k])) for k in ("json", "png") if result[k])
        print(f"{spec.name}: {result['runs']} runs, {result['unfinished']} unfinished -> {files}; {where}")
        for run in table.unfinished:
            print(f"  unfinished (no metrics.json; `make sweep` resumes it): {display(run.run_dir)}")
        if table.missing:
            print(f"  {missing_note(table, paths.project)}")
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
    specs = load_specs(paths.tables)
    live = any(not (spec.frozen or spec.bench) for spec in specs)   # frozen and bench tables need no runs
    records = load_records(paths, str(cfg.project)) if live else []
    written = write_tables(specs, records, paths)
    finished = sum(r.finished for r in records)
    print(f"report: {finished} finished / {len(records)} run folders under {display(paths.runs)}, "
          f"{len(written)} tables written")
    return {"tables": written, "runs": len(records), "finished": finished}
