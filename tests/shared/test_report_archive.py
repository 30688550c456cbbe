"""The committed run archive (a table regenerates when the run folders are gone) and the rows kept from a
table's committed JSON (re-running one row does not blank the others)."""

from __future__ import annotations

import json

import pytest

from shared.report import ReportPaths, load_records, parse_spec, write_tables
from shared.report.archive import ARCHIVED_FILES, MARKER, collect_with_archive
from tests.shared.test_report_library import SPEC, fake_run, model_runs


def test_finished_runs_are_archived_and_a_table_regenerates_from_the_archive_alone(tmp_path):
    runs, archive = tmp_path / "runs", tmp_path / "reports" / "runs"
    model_runs(runs)
    (runs / "main" / "a-s1" / "checkpoints").mkdir()
    (runs / "main" / "a-s1" / "checkpoints" / "last.ckpt").write_bytes(b"0" * 1000)
    records = collect_with_archive(runs, archive)
    archived = sorted(p.relative_to(archive).as_posix() for p in archive.rglob("*") if p.is_file())
    assert "main/a-s1/metrics.json" in archived and "main/a-s1/.hydra/config.yaml" in archived
    assert "main/a-s1/csv/metrics.csv" in archived
    assert not any("ckpt" in name for name in archived)                 # checkpoints stay out
    assert not (archive / "main" / "c-s1").exists()                      # unfinished: not archived
    assert all(name.split("/", 2)[2] in (*ARCHIVED_FILES, MARKER) for name in archived)  # MARKER: written last
    # finished records point into the archive (committed); the unfinished live run is still reported
    finished = {r.name: r.run_dir for r in records if r.setting == "main" and r.finished}
    assert finished["a-s1"] == archive / "main" / "a-s1"
    assert any(r.name == "c-s1" and not r.finished for r in records)

    paths = ReportPaths(runs=runs, readme=tmp_path / "README.md", output_dir=tmp_path / "reports", tables=tmp_path,
                        archive=archive)
    write_tables([parse_spec("models", SPEC)], load_records(paths, "p"), paths)
    before = json.loads((tmp_path / "reports" / "models.json").read_text())
    for run_dir in sorted(runs.glob("*/*")):                             # a fresh clone: no run folders
        for path in sorted(run_dir.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        run_dir.rmdir()
    write_tables([parse_spec("models", SPEC)], load_records(paths, "p"), paths)
    after = json.loads((tmp_path / "reports" / "models.json").read_text())
    assert [c["text"] for c in after["cells"]] == [c["text"] for c in before["cells"]]
    acc = next(c for c in after["cells"] if c["row"] == "Model A" and c["column"] == "Acc")
    assert acc["mean"] == pytest.approx(0.72) and acc["n"] == 2 and "kept" not in acc


def test_a_row_without_runs_keeps_its_committed_cells_and_is_named_under_the_table(tmp_path):
    runs, archive = tmp_path / "runs", tmp_path / "reports" / "runs"
    model_runs(runs)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- report:models:start -->\n<!-- report:models:end -->\n")
    paths = ReportPaths(runs=runs, readme=readme, output_dir=tmp_path / "reports", tables=tmp_path, archive=None)
    write_tables([parse_spec("models", SPEC)], load_records(paths, "p"), paths)
    first = json.loads((tmp_path / "reports" / "models.json").read_text())

    # a later session: only model B's folder exists again, with a new value; A's runs are gone
    later = tmp_path / "later"
    fake_run(later, "main", "b-s1", {"model": {"name": "b"}, "seed": 1},
             {"best/test/acc": 0.6, "final/test/acc": 0.5, "best/test/params_m": 2.25})
    paths = ReportPaths(runs=later, readme=readme, output_dir=tmp_path / "reports", tables=tmp_path, archive=archive)
    write_tables([parse_spec("models", SPEC)], load_records(paths, "p"), paths)
    data = json.loads((tmp_path / "reports" / "models.json").read_text())
    cell = {(c["row"], c["column"]): c for c in data["cells"]}
    old = {(c["row"], c["column"]): c for c in first["cells"]}
    for column in ("Acc", "Acc (final)", "Params (M)", "seeds", "epochs"):
        assert cell[("Model A", column)]["text"] == old[("Model A", column)]["text"]
        assert cell[("Model A", column)]["kept"] is True
    assert cell[("Model A", "Acc")]["mean"] == pytest.approx(0.72) and cell[("Model A", "Acc")]["n"] == 2
    assert cell[("Model B", "Acc")]["text"] == "60.0 (n=1)" and "kept" not in cell[("Model B", "Acc")]
    assert cell[("Model C", "Acc")]["text"] == "–" and "kept" not in cell[("Model C", "Acc")]   # never measured
    text = readme.read_text()
    assert "| Model A | ours | 72.0 ± 2.8 (n=2) |" in text
    assert "Rows kept from the committed `" in text and "): Model A." in text
    assert data["differences"][0]["values"][1] == "+12.0"                # A (kept) − B (new)


def test_with_no_committed_json_a_row_without_runs_keeps_its_cells_from_the_readme_block(tmp_path):
    """Tables made before reports wrote JSON: re-running one row keeps the others from the README text."""
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- report:models:start -->\n**Models**\n\n"
                      "| Model | note | Acc | Acc (final) | Params (M) | seeds | epochs |\n"
                      "|---|---|---|---|---|---|---|\n"
                      "| Model A | ours | 72.0 ± 2.8 | 62.0 ± 2.8 | 1.50 | 1, 2 | 4, 5 |\n"
                      "| Model B | | 50.0 | 40.0 | 2.25 | 1 | 2 |\n"
                      "| Model C | | – | – | – | – | – |\n<!-- report:models:end -->\nrest\n")
    runs = tmp_path / "runs"
    fake_run(runs, "main", "b-s1", {"model": {"name": "b"}, "seed": 1},
             {"best/test/acc": 0.6, "final/test/acc": 0.5, "best/test/params_m": 2.25})
    paths = ReportPaths(runs=runs, readme=readme, output_dir=tmp_path / "reports", tables=tmp_path)
    assert not (tmp_path / "reports" / "models.json").exists()
    write_tables([parse_spec("models", SPEC)], load_records(paths, "p"), paths)
    text = readme.read_text()
    assert "| Model A | ours | 72.0 ± 2.8 | 62.0 ± 2.8 | 1.50 | 1, 2 | 4, 5 |" in text    # kept verbatim
    assert "| Model B |  | 60.0 (n=1) | 50.0 (n=1) |" in text                            # the new run
    assert "): Model A." in text and text.startswith("intro") and text.endswith("rest\n")
    data = json.loads((tmp_path / "reports" / "models.json").read_text())
    acc = next(c for c in data["cells"] if c["row"] == "Model A" and c["column"] == "Acc")
    assert acc["kept"] is True and acc["mean"] == pytest.approx(0.72) and acc["std"] == pytest.approx(0.028)
    assert acc["n"] is None                                               # the old text did not show n
    assert data["differences"][0]["values"][1] == "+12.0"                 # A (kept) − B (new)
    assert next(c for c in data["cells"] if c["row"] == "Model C" and c["column"] == "Acc")["text"] == "–"


def test_a_table_with_only_kept_rows_is_left_as_it_is(tmp_path, capsys):
    runs = tmp_path / "runs"
    model_runs(runs)
    paths = ReportPaths(runs=runs, readme=tmp_path / "README.md", output_dir=tmp_path / "reports", tables=tmp_path)
    write_tables([parse_spec("models", SPEC)], load_records(paths, "p"), paths)
    committed = (tmp_path / "reports" / "models.json").read_text()
    elsewhere = tmp_path / "elsewhere"
    fake_run(elsewhere, "other", "z-s1", {"model": {"name": "z"}, "seed": 1}, {"best/test/acc": 0.1})
    paths = ReportPaths(runs=elsewhere, readme=tmp_path / "README.md", output_dir=tmp_path / "reports",
                        tables=tmp_path)
    assert write_tables([parse_spec("models", SPEC)], load_records(paths, "p"), paths) == []
    assert (tmp_path / "reports" / "models.json").read_text() == committed
    assert "no finished runs" in capsys.readouterr().out
