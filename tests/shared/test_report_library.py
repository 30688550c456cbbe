"""The shared report library on fake run folders: records, cells (mean ± sample std, n), table specs,
README blocks (one marker pair per table), JSON and PNG files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from PIL import Image

from shared.errors import ConfigError, DataError
from shared.report import (
    Cell,
    ReportPaths,
    TableSpec,
    build_table,
    collect_runs,
    format_cell,
    load_records,
    metric_value,
    parse_spec,
    summarise,
    to_json,
    to_markdown,
    write_tables,
)
from shared.report.readme import markers, write_block


def fake_run(root: Path, setting: str, name: str, config: dict, metrics: dict | None, epochs: int = 0) -> Path:
    """A run folder as a sweep leaves it: .hydra/config.yaml, metrics.json (None: unfinished), csv log."""
    run_dir = root / setting / name
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(config), run_dir / ".hydra" / "config.yaml")
    if metrics is not None:
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    if epochs:
        (run_dir / "csv").mkdir()
        rows = ["epoch,step,train/loss,val/loss"] + [f"{e},{e * 10 + 5},0.5," for e in range(epochs)] + [
            f"{e},{e * 10 + 9},,0.4" for e in range(epochs)]
        (run_dir / "csv" / "metrics.csv").write_text("\n".join(rows) + "\n")
    return run_dir


def model_runs(root: Path) -> None:
    """Model a: seeds 1, 2 (acc .70/.74 val-selected, .60/.64 final); b: seed 1 only; c: unfinished;
    another setting's run (a damaged metrics.json is an error: tests/robustness/test_robust_report.py)."""
    for seed, (best, final) in zip((1, 2), ((0.70, 0.60), (0.74, 0.64))):
        fake_run(root, "main", f"a-s{seed}", {"model": {"name": "a"}, "seed": seed},
                 {"best/test/acc": best, "final/test/acc": final, "best/test/params_m": 1.5}, epochs=3 + seed)
    fake_run(root, "main", "b-s1", {"model": {"name": "b"}, "seed": 1},
             {"best/test/acc": 0.5, "final/test/acc": 0.4, "best/test/params_m": 2.25}, epochs=2)
    fake_run(root, "main", "c-s1", {"model": {"name": "c"}, "seed": 1}, None)
    fake_run(root, "other", "a-s1", {"model": {"name": "a"}, "seed": 1}, {"best/test/acc": 0.1})
    fake_run(root, "main", "a-s3", {"model": {"name": "a"}, "seed": 3}, None)


SPEC = {
    "title": "**Models**", "setting": "main", "which": "best", "row_header": "Model",
    "rows": [{"id": "a", "label": "Model A", "match": {"model.name": "a"}, "text": {"note": "ours"}},
             {"id": "b", "label": "Model B", "match": {"model.name": "b"}},
             {"id": "c", "label": "Model C", "match": {"model.name": "c"}}],
    "columns": [{"label": "note", "show": "text"},
                {"label": "Acc", "metric": "test/acc"},
                {"label": "Acc (final)", "metric": "test/acc", "which": "final"},
                {"label": "Params (M)", "metric": "test/params_m", "show": "first", "scale": 1, "digits": 2},
                {"label": "seeds", "show": "values", "key": "seed"},
                {"label": "epochs", "show": "epochs"}],
    "differences": [{"label": "A − B", "minuend": "a", "subtrahend": "b"}],
}


def md_rows(markdown: str) -> list[list[str]]:
    """The rows of the markdown tables in ``markdown`` as stripped cells (the rule lines left out)."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in markdown.splitlines()
            if line.startswith("|")]
    return [r for r in rows if not all(c and set(c) <= set("-:") for c in r)]


# -- cells ------------------------------------------------------------------------------------------
def test_cells_are_mean_and_sample_std_with_n():
    cell = summarise([0.40, 0.42, 0.44], ["r0", "r1", "r2"])
    assert cell.n == 3 and cell.mean == pytest.approx(0.42) and cell.std == pytest.approx(0.02)   # ddof 1
    assert cell.runs == ("r0", "r1", "r2")
    assert summarise([0.3]) == Cell(0.3, None, 1)              # one run: no std
    assert summarise([]) is None and summarise([math.nan, None]) is None
    assert summarise([0.5, math.nan], ["kept", "dropped"]).runs == ("kept",)


def test_cell_text_shows_n_and_one_run_without_std():
    assert format_cell(Cell(0.4213, 0.0081, 3)) == "42.1 ± 0.8 (n=3)"
    assert format_cell(Cell(0.40, None, 1)) == "40.0 (n=1)"
    assert format_cell(Cell(0.8456, 0.0171, 2), scale=1, digits=3) == "0.846 ± 0.017 (n=2)"
    assert format_cell(None) == "–"


def test_metric_value_reads_final_best_or_an_eval_runs_plain_key(tmp_path):
    run = fake_run(tmp_path, "s", "r", {}, {"final/test/acc": 0.6, "best/test/acc": 0.7, "test/f1": 0.5,
                                            "best/test/teacher/miou": 0.3, "best_checkpoint": "x.ckpt",
                                            "fit/val/miou": 0.2, "best/test/flag": True})
    record = collect_runs(tmp_path)[0]
    assert run == record.run_dir
    assert metric_value(record, "final", "test/acc") == 0.6 and metric_value(record, "best", "test/acc") == 0.7
    assert metric_value(record, "best", "test/f1") == 0.5                      # `make eval` writes test/...
    assert metric_value(record, "best", ["test/teacher/miou", "test/student/miou"]) == 0.3
    assert metric_value(record, "best", ["test/student/miou"]) is None
    assert metric_value(record, "fit", "val/miou") == 0.2
    assert metric_value(record, "best", "test/flag") is None                   # not a number


# -- run folders ------------------------------------------------------------------------------------
def test_collect_runs_reads_every_setting_and_marks_unfinished_runs(tmp_path):
    model_runs(tmp_path)
    (tmp_path / "main" / "multirun.yaml").write_text("{}")                       # Hydra's file, not a run
    (tmp_path / "main" / "no-hydra").mkdir()
    records = collect_runs(tmp_path)
    assert [(r.setting, r.name, r.finished) for r in records] == [
        ("main", "a-s1", True), ("main", "a-s2", True), ("main", "a-s3", False), ("main", "b-s1", True),
        ("main", "c-s1", False), ("other", "a-s1", True)]
    assert records[0].value("model.name") == "a" and records[0].value("missing.key") is None


def test_config_values_with_unresolvable_interpolations_read_as_none(tmp_path):
    config = {"seed": 1, "when": "${hydra:runtime.output_dir}", "name": "${model}-x", "model": "m"}
    fake_run(tmp_path, "s", "r", config, None)
    record = collect_runs(tmp_path, fields=lambda cfg: {"derived": f"{cfg.model}!"})[0]
    assert record.value("when") is None and record.value("name") == "m-x" and record.value("derived") == "m!"
    assert record.matches({"seed": "1", "derived": "m!"}) and not record.matches({"seed": 2})
    assert record.matches({"seed": [2, 1]})                                       # any of a list


# -- tables -----------------------------------------------------------------------------------------
def test_table_cells_follow_rows_columns_setting_and_checkpoint(tmp_path):
    model_runs(tmp_path)
    table = build_table(parse_spec("models", SPEC), collect_runs(tmp_path))
    assert table.cells[("a", "Acc")] == Cell(pytest.approx(0.72), pytest.approx(0.0283, abs=1e-4), 2,
                                             (str(tmp_path / "main" / "a-s1"), str(tmp_path / "main" / "a-s2")))
    assert table.cells[("a", "Acc (final)")].mean == pytest.approx(0.62)       # the other setting's run is out
    assert table.cells[("c", "Acc")] is None and [r.name for r in table.unfinished] == ["a-s3", "c-s1"]
    assert md_rows(to_markdown(table)) == [
        ["Model", "note", "Acc", "Acc (final)", "Params (M)", "seeds", "epochs"],
        ["Model A", "ours", "72.0 ± 2.8 (n=2)", "62.0 ± 2.8 (n=2)", "1.50", "1, 2", "4, 5"],
        ["Model B", "", "50.0 (n=1)", "40.0 (n=1)", "2.25", "1", "2"],
        ["Model C", "", "–", "–", "–", "–", "–"],
        ["A − B", "", "+22.0", "+22.0", "", "", ""]]
    assert table.missing == ("c",)                                           # its only run is unfinished


def test_a_mean_column_shows_the_runs_mean_where_first_shows_the_first_runs_value(tmp_path):
    model_runs(tmp_path)
    spec = {**SPEC, "columns": [{"label": "Acc", "metric": "test/acc"},
                                {"label": "first", "metric": "test/acc", "show": "first", "scale": 1, "digits": 2},
                                {"label": "mean", "metric": "test/acc", "show": "mean", "scale": 1, "digits": 2}],
            "differences": []}
    rows = md_rows(to_markdown(build_table(parse_spec("models", spec), collect_runs(tmp_path))))
    assert rows[1] == ["Model A", "72.0 ± 2.8 (n=2)", "0.70", "0.72"]    # seeds 1, 2: 0.70 and 0.74
    assert rows[2] == ["Model B", "50.0 (n=1)", "0.50", "0.50"]


def test_pivot_table_columns_match_config_values_and_wrap_puts_rows_side_by_side(tmp_path):
    for seed in (0, 1):
        for ratio, value in (("1_4", 0.3), ("1_2", 0.4)):
            fake_run(tmp_path, "s", f"m-{ratio}-s{seed}", {"method": "m", "ratio": ratio, "seed": seed},
                     {"final/test/miou": value + 0.01 * seed, "final/test/x/a": 0.1, "final/test/x/b": 0.2,
                      "final/test/x/c": 0.3})
    records = collect_runs(tmp_path)
    pivot = parse_spec("t", {"which": "final", "metric": "test/miou",
                             "rows": [{"label": "M", "match": {"method": "m"}}],
                             "columns": [{"label": "1/4", "match": {"ratio": "1_4"}},
                                         {"label": "1/2", "match": {"ratio": "1_2"}}]})
    assert md_rows(to_markdown(build_table(pivot, records)))[1] == ["M", "30.5 ± 0.7 (n=2)", "40.5 ± 0.7 (n=2)"]
    per_metric = parse_spec("u", {"which": "final", "where": {"ratio": "1_4"}, "wrap": 2, "row_header": "k",
                                  "columns": [{"label": "v"}],
                                  "rows": [{"label": k, "metric": f"test/x/{k}"} for k in "abc"]})
    assert md_rows(to_markdown(build_table(per_metric, records))) == [
        ["k", "v", "k", "v"], ["a", "10.0 ± 0.0 (n=2)", "c", "30.0 ± 0.0 (n=2)"], ["b", "20.0 ± 0.0 (n=2)", "", ""]]


def paired_spec(*differences: dict) -> TableSpec:
    """Rows a and b (config ``model``), one column of final test accuracy, the given difference rows."""
    return parse_spec("p", {"which": "final", "metric": "test/acc", "columns": [{"label": "Acc"}],
                            "rows": [{"id": m, "label": m.upper(), "match": {"model": m}} for m in "ab"],
                            "differences": list(differences)})


PAIRED = {"label": "A − B", "minuend": "a", "subtrahend": "b", "paired_by": "seed"}


def test_paired_difference_lists_the_seed_pairs_and_their_paired_t(tmp_path):
    # a: seeds 0, 1, 2 = .30 .32 .35; b: seeds 0, 1, 2, 3 = .28 .31 .32 .25 -> pairs +2, +1, +3 points
    # (mean 2, sample std 1, paired t = 2 / (1 / sqrt 3) = 3.46, df 2: two-sided p = 1 - t / sqrt(2 + t^2)
    # = 1 - 3.4641 / 3.7417 = 0.0742); the means differ by 32.33 - 29.00 = +3.3
    for name, values in (("a", (0.30, 0.32, 0.35)), ("b", (0.28, 0.31, 0.32, 0.25))):
        for seed, value in enumerate(values):
            fake_run(tmp_path, "s", f"{name}-s{seed}", {"model": name, "seed": seed}, {"final/test/acc": value})
    spec = paired_spec(PAIRED, {"label": "plain", "minuend": "a", "subtrahend": "b"})
    table = build_table(spec, collect_runs(tmp_path))
    assert md_rows(to_markdown(table))[-2:] == [["A − B", "+3.3 (pairs +2.0, +1.0, +3.0; paired t 3.5, p 0.074)"],
                                                 ["plain", "+3.3"]]
    paired, plain = to_json(table)["differences"]
    assert paired["pairs"][0] == pytest.approx([0.02, 0.01, 0.03]) and paired["paired_t"][0] == pytest.approx(
        2 * math.sqrt(3))
    assert paired["paired_p"][0] == pytest.approx(1 - 2 * math.sqrt(3) / math.sqrt(14))
    assert "pairs" not in plain


def test_paired_difference_refuses_runs_it_cannot_pair_naming_the_key(tmp_path):
    for name, seed in (("a0", 0), ("a0bis", 0), ("b0", 0)):
        fake_run(tmp_path, "s", name, {"model": name[0], "seed": seed}, {"final/test/acc": 0.3})
    with pytest.raises(ConfigError, match="table p: difference 'A − B': two runs of 'A' / 'Acc' share seed = 0"):
        to_markdown(build_table(paired_spec(PAIRED), collect_runs(tmp_path)))
    with pytest.raises(ConfigError, match="difference 'A − B': run .*a0 has no config key 'sede' to pair by"):
        to_markdown(build_table(paired_spec({**PAIRED, "paired_by": "sede"}), collect_runs(tmp_path)))


@pytest.mark.parametrize("change, message", [
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"rows": [{"label": "A", "mtach": {}}]}, r"rows\[0\]: unknown key 'mtach'"),
    ({"columns": [{"label": "Acc"}]}, "column 'Acc' has no metric"),
    ({"columns": [{"label": "x", "metric": "m", "show": "median"}]}, "show must be one of"),
    ({"columns": [{"label": "x", "show": "values"}]}, "needs `key`"),
    ({"differences": [{"label": "d", "minuend": "a", "subtrahend": "zz"}]}, "names no row 'zz'"),
    ({"rows": []}, "needs rows and columns"),
    ({"frozen": True}, "a frozen table needs `sweep`"),
])
def test_spec_mistakes_are_config_errors_naming_the_file_and_key(change, message):
    with pytest.raises(ConfigError, match=f"configs/x/report/models.yaml.*{message}"):
        parse_spec("models", {**SPEC, **change}, source="configs/x/report/models.yaml")


# -- README blocks and files -----------------------------------------------------------------------
def test_readme_block_replaces_only_its_own_markers(tmp_path):
    readme = tmp_path / "README.md"
    a, b = markers("a"), markers("b")
    readme.write_text(f"intro\n{a[0]}\nold a\n{a[1]}\nmiddle\n{b[0]}\nold b\n{b[1]}\noutro\n")
    assert write_block(readme, "a", "new a\n")
    assert readme.read_text() == f"intro\n{a[0]}\nnew a\n{a[1]}\nmiddle\n{b[0]}\nold b\n{b[1]}\noutro\n"
    before = readme.read_text()
    assert not write_block(readme, "c", "x") and readme.read_text() == before          # no markers
    assert not write_block(tmp_path / "absent.md", "a", "x")
    readme.write_text(f"{a[1]}\n{a[0]}\n")                                               # end before start
    assert not write_block(readme, "a", "x") and readme.read_text() == f"{a[1]}\n{a[0]}\n"


def test_write_tables_writes_json_png_and_readme_block_and_a_table_without_runs_as_missing(tmp_path, capsys):
    model_runs(tmp_path / "runs")
    readme = tmp_path / "README.md"
    committed = f"{markers('empty')[0]}\ncommitted table\n{markers('empty')[1]}"
    readme.write_text(f"# P\n{markers('models')[0]}\nold\n{markers('models')[1]}\n{committed}\n"
                      f"{markers('curve')[0]}\n{markers('curve')[1]}\n")
    curve = {"title": "curve", "setting": "main", "which": "best", "plot": {"xlabel": "x", "ylabel": "acc"},
             "rows": [{"id": "a", "label": "A", "match": {"model.name": "a"}, "x": 1},
                      {"id": "b", "label": "B", "match": {"model.name": "b"}, "x": 2}],
             "columns": [{"label": "Acc", "metric": "test/acc"}]}
    empty = {**SPEC, "setting": "nowhere", "sweep": "models"}
    specs = [parse_spec("models", SPEC), parse_spec("curve", curve), parse_spec("empty", empty),
             parse_spec("unmarked", SPEC)]
    paths = ReportPaths(runs=tmp_path / "runs", readme=readme, output_dir=tmp_path / "reports", tables=tmp_path,
                        project="p")
    written = write_tables(specs, collect_runs(paths.runs), paths)

    assert [(w["table"], w["readme"]) for w in written] == [("models", True), ("curve", True), ("empty", True),
                                                            ("unmarked", False)]
    text = readme.read_text()
    assert f"{markers('models')[0]}\n**Models**\n\n| Model " in text and "old" not in text
    assert "committed table" not in text                                 # never the old numbers of a row
    assert ("Missing (no finished run, live or archived): Model A; Model B; Model C. `make sweep PROJECT=p "
            "SWEEP=models` makes them") in text
    assert "archived): Model C. `make sweep PROJECT=p SWEEP=<the sweep of main>`" in text    # no `sweep` in SPEC
    assert "Missing (no finished run" in capsys.readouterr().out
    data = json.loads((tmp_path / "reports" / "models.json").read_text())
    acc = next(c for c in data["cells"] if c["row"] == "Model A" and c["column"] == "Acc")
    assert acc["mean"] == pytest.approx(0.72) and acc["std"] == pytest.approx(0.0283, abs=1e-4) and acc["n"] == 2
    assert acc["runs"] == [str(tmp_path / "runs" / "main" / "a-s1"), str(tmp_path / "runs" / "main" / "a-s2")]
    assert next(c for c in data["cells"] if c["row"] == "Model B" and c["column"] == "Acc")["std"] is None
    assert data["unfinished"] == [str(tmp_path / "runs" / "main" / n) for n in ("a-s3", "c-s1")]
    assert all(c.get("missing") and c["text"] == "–" for c in json.loads((tmp_path / "reports" / "empty.json")
               .read_text())["cells"] if c["column"] != "note")
    assert not (tmp_path / "reports" / "models.png").exists()
    with Image.open(tmp_path / "reports" / "curve.png") as image:
        assert image.width > 300 and image.height > 200
    assert f"![curve](reports/curve.png)\n{markers('curve')[1]}" in text      # relative to the README


def test_no_run_folders_is_a_clear_error_and_writes_nothing(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("unchanged\n")
    paths = ReportPaths(runs=tmp_path / "absent", readme=readme, output_dir=tmp_path / "reports", tables=tmp_path)
    with pytest.raises(DataError, match="no run folders under .*absent.*make sweep PROJECT=p SWEEP=<name>"):
        load_records(paths, "p")
    assert readme.read_text() == "unchanged\n" and not (tmp_path / "reports").exists()
