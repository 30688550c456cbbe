"""The committed run archive: a table regenerates when the run folders are gone (a row whose runs are gone
altogether is written missing: tests/robustness/test_robust_report.py)."""

from __future__ import annotations

import json

import pytest

from shared.report import ReportPaths, load_records, parse_spec, write_tables
from shared.report.archive import ARCHIVED_FILES, MARKER, collect_with_archive
from tests.shared.test_report_library import SPEC, model_runs


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
