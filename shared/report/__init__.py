"""The report library: sweep run folders -> tables of mean ± sample-std cells (n shown) -> markdown in a
README between per-table markers, ``reports/<project>/<table>.json`` and PNG plots.

* :mod:`shared.report.runs`: ``collect_runs(root)`` -> :class:`RunRecord` (setting, folder, config, metrics.json)
* :mod:`shared.report.cells`: :class:`Cell`, ``summarise``, ``cell_of`` (final / val-selected metrics), ``format_cell``
* :mod:`shared.report.tables`: YAML table specs -> ``build_table`` -> ``to_markdown`` / ``to_json``
* :mod:`shared.report.readme`: ``write_block`` (one marker pair per table)
* :mod:`shared.report.plots`: ``plot_table`` (``plot_rows``), ``save_figure``
* :mod:`shared.report.frozen`: a ``frozen: true`` table rendered from its committed JSON alone
* :mod:`shared.report.build`: ``run(cfg)``, the generic ``report`` task of a project's ``tasks:``
"""

from shared.report.build import ReportPaths, load_records, report_paths, run, write_tables
from shared.report.cells import MISSING, Cell, cell_of, format_cell, metric_value, summarise
from shared.report.runs import RunRecord, collect_runs, read_run
from shared.report.tables import TableSpec, build_table, load_specs, parse_spec, to_json, to_markdown

__all__ = ["MISSING", "Cell", "ReportPaths", "RunRecord", "TableSpec", "build_table", "cell_of", "collect_runs",
           "format_cell", "load_records", "load_specs", "metric_value", "parse_spec", "read_run", "report_paths",
           "run", "summarise", "to_json", "to_markdown", "write_tables"]
