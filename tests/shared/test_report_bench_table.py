"""Bench tables (shared/report/bench_table.py): a table spec with ``bench: true`` is filled from the project's
bench results file, one key per cell (``{row}`` in a metric is the row's id); a missing or damaged file, or a key
the bench did not write, is an error naming the file, never a blank cell."""

from __future__ import annotations

import json

import pytest

from shared.errors import ConfigError, DataError
from shared.report import ReportPaths, parse_spec, write_tables
from shared.report.readme import markers

SPEC = {"title": "Time per click", "bench": True, "stamp": "setting", "which": None, "row_header": "method",
        "rows": [{"id": "ours", "label": "Ours"}, {"id": "grabcut", "label": "grabCut"}],
        "columns": [{"label": "1 MP", "metric": "s_1mp_{row}", "show": "first", "scale": 1, "digits": 3},
                    {"label": "12 MP", "metric": ["s_12mp_{row}", "s_12mp_old_{row}"], "show": "first",
                     "scale": 1, "digits": 2}]}
RESULTS = {"s_1mp_ours": 0.1234, "s_1mp_grabcut": 0.0991, "s_12mp_ours": 0.5, "s_12mp_old_grabcut": 0.25,
           "setting": "image 1 enlarged; measured 2026-12-07 05:40", "device": "cpu"}


def setup(tmp_path, results=RESULTS):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{markers('time')[0]}\nold numbers\n{markers('time')[1]}\n")
    bench = tmp_path / "bench.json"
    if results is not None:
        bench.write_text(json.dumps(results) if isinstance(results, dict) else results)
    paths = ReportPaths(runs=tmp_path / "runs", readme=readme, output_dir=tmp_path / "reports", tables=tmp_path,
                        project="p", bench=bench)
    return paths, readme


def test_a_bench_table_renders_one_key_per_cell_and_names_its_source(tmp_path):
    paths, readme = setup(tmp_path)
    written = write_tables([parse_spec("time", SPEC)], [], paths)
    assert written[0]["readme"] and written[0]["table"] == "time"
    text = readme.read_text()
    assert "old numbers" not in text
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| Ours") or line.startswith("| grabCut")}
    assert rows == {"Ours": ["0.123", "0.50"], "grabCut": ["0.099", "0.25"]}   # the list: first key it has
    assert ("Rendered by `make report PROJECT=p` from `" in text and "bench.json` (image 1 enlarged; measured "
            "2026-12-07 05:40), written by `make bench PROJECT=p`." in text)
    data = json.loads((tmp_path / "reports" / "time.json").read_text())
    assert data["source"].endswith("bench.json")
    assert {(c["row"], c["column"], c["text"]) for c in data["cells"]} >= {("Ours", "1 MP", "0.123"),
                                                                         ("grabCut", "12 MP", "0.25")}


@pytest.mark.parametrize("results, message", [
    (None, "bench.json: no bench results; re-make it with `make bench PROJECT=p`"),
    ("{not json", r"bench.json: damaged \(JSONDecodeError\)"),
    ("[1, 2]", "bench.json: not a bench results file"),
    ({**RESULTS, "s_1mp_grabcut": "fast"},
     r"no number for 's_1mp_grabcut' \(table time, row 'grabcut', column '1 MP'\)"),
    ({k: v for k, v in RESULTS.items() if k != "setting"}, "no text key 'setting'"),
])
def test_a_missing_or_damaged_source_or_key_is_an_error_and_the_readme_keeps_its_block(tmp_path, results, message):
    paths, readme = setup(tmp_path, results)
    before = readme.read_text()
    with pytest.raises(DataError, match=message):
        write_tables([parse_spec("time", SPEC)], [], paths)
    assert readme.read_text() == before


def test_a_table_is_not_both_bench_and_frozen_and_a_bench_table_needs_the_results_file(tmp_path):
    with pytest.raises(ConfigError, match="either frozen .* or bench"):
        parse_spec("time", {**SPEC, "frozen": True, "sweep": "x"})
    paths, _ = setup(tmp_path)
    with pytest.raises(ConfigError, match="bench.output"):
        write_tables([parse_spec("time", SPEC)], [], ReportPaths(**{**paths.__dict__, "bench": None}))
