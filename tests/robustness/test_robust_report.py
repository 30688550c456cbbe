"""make report on damaged, missing, half-copied and duplicated-label runs: one line naming the file, never
another run's (or another row's) numbers; a row without runs is written missing; a frozen table renders
from its committed JSON alone."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from shared.errors import DataError
from shared.report import ReportPaths, load_records, parse_spec, write_tables
from shared.report.archive import MARKER, archive_run, collect_with_archive

SPEC = {"title": "", "setting": "main", "which": "best", "row_header": "Model",
        "rows": [{"id": "wbh_k1", "label": "Ours (WBH)", "match": {"model.name": "wbh", "k": 1}},
                 {"id": "wbh_k3", "label": "Ours (WBH)", "match": {"model.name": "wbh", "k": 3}}],
        "columns": [{"label": "DSC", "metric": "test/dsc"}]}


def run(root: Path, name: str, k: int, seed: int, metrics: object) -> Path:
    folder = root / "main" / name
    (folder / ".hydra").mkdir(parents=True)
    config = OmegaConf.create({"model": {"name": "wbh"}, "k": k, "seed": seed})
    OmegaConf.save(config, folder / ".hydra" / "config.yaml")
    if metrics is not None:
        (folder / "metrics.json").write_text(metrics if isinstance(metrics, str) else json.dumps(metrics))
    return folder


def report(tmp_path: Path, archive: Path | None = None) -> dict:
    paths = ReportPaths(runs=tmp_path / "runs", readme=tmp_path / "README.md", output_dir=tmp_path / "out",
                        tables=tmp_path, archive=archive)
    write_tables([parse_spec("t", SPEC)], load_records(paths, "p"), paths)
    return {(c["row_id"], c["column"]): c for c in json.loads((tmp_path / "out" / "t.json").read_text())["cells"]}


def good_runs(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    for seed in (1, 2):
        run(runs, f"k1-s{seed}", 1, seed, {"best/test/dsc": 0.8 + seed / 100})
        run(runs, f"k3-s{seed}", 3, seed, {"best/test/dsc": 0.9 + seed / 100})
    return runs


@pytest.mark.parametrize("damage", ['{"best/test/dsc": 0.9', '"0.9"', "[0.9]", "{}", '{"best/test/dsc": "high"}',
                                    '{"other": 1.0}', '{"best/test/dsc": NaN, "other": 1.0}'])
def test_a_damaged_metrics_file_is_one_error_naming_it(tmp_path, damage):
    runs = good_runs(tmp_path)
    (runs / "main" / "k3-s2" / "metrics.json").write_text(damage)
    with pytest.raises(DataError, match=r"k3-s2/metrics.json: .*(damaged|no number|NaN)"):
        report(tmp_path)


def test_bad_yaml_names_the_config(tmp_path):
    runs = good_runs(tmp_path)
    (runs / "main" / "k3-s1" / ".hydra" / "config.yaml").write_text("model: [unclosed\n")
    with pytest.raises(DataError, match=r"k3-s1/.hydra/config.yaml: not readable YAML"):
        report(tmp_path)


def test_rows_sharing_a_label_keep_their_own_numbers(tmp_path):
    good_runs(tmp_path)
    cells = report(tmp_path)
    assert cells[("wbh_k1", "DSC")]["mean"] == pytest.approx(0.815)
    assert cells[("wbh_k3", "DSC")]["mean"] == pytest.approx(0.915)


def test_a_row_with_no_runs_is_an_empty_cell_marked_missing_never_its_committed_numbers(tmp_path):
    good_runs(tmp_path)
    report(tmp_path)                                                    # the committed JSON has both rows
    for folder in (tmp_path / "runs" / "main").glob("k3-*"):          # k3's runs gone (never archived)
        for path in sorted(folder.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        folder.rmdir()
    (tmp_path / "README.md").write_text("<!-- report:t:start -->\n| Ours (WBH) | 91.5 |\n<!-- report:t:end -->\n")
    cells = report(tmp_path)
    assert cells[("wbh_k3", "DSC")]["missing"] is True and cells[("wbh_k3", "DSC")]["text"] == "–"
    assert cells[("wbh_k3", "DSC")]["mean"] is None and cells[("wbh_k3", "DSC")]["runs"] == []
    assert "kept" not in cells[("wbh_k3", "DSC")] and "missing" not in cells[("wbh_k1", "DSC")]
    text = (tmp_path / "README.md").read_text()
    assert "91.5" not in text and "Missing (no finished run, live or archived): Ours (WBH)." in text
    quoted = {**SPEC, "rows": [*SPEC["rows"], {"id": "paper", "label": "Paper", "match": {"model.name": "none"},
                                               "text": {"DSC": "0.9 (published)"}}]}
    paths = ReportPaths(runs=tmp_path / "runs", readme=tmp_path / "README.md", output_dir=tmp_path / "out",
                        tables=tmp_path)
    write_tables([parse_spec("t", quoted)], load_records(paths, "p"), paths)
    cells = {c["row_id"]: c for c in json.loads((tmp_path / "out" / "t.json").read_text())["cells"]}
    assert "missing" not in cells["paper"] and cells["wbh_k3"]["missing"] is True   # a quoted row is no gap


def frozen_json(tmp_path: Path, mean: float = 0.5) -> Path:
    cells = [{"row": "Ours (WBH)", "row_id": rid, "column": "DSC", "text": f"{mean * 100 + i:.1f} (n=1)",
              "mean": mean + i / 100, "std": None, "n": 1, "runs": [f"runs/p/main/{rid}"]}
             for i, rid in enumerate(("wbh_k1", "wbh_k3"))]
    path = tmp_path / "out" / "t.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"table": "t", "cells": cells, "differences": [],
                                "frozen": {"date": "2026-01-02", "commit": "abc1234", "from": "a study"}}))
    return path


def test_a_frozen_table_renders_from_its_json_alone_with_no_runs(tmp_path):
    committed = frozen_json(tmp_path).read_text()
    readme = tmp_path / "README.md"
    readme.write_text("<!-- report:t:start -->\n| Ours (WBH) | 12.3 (n=9) |\n<!-- report:t:end -->\n")
    paths = ReportPaths(runs=tmp_path / "no_runs", readme=readme, output_dir=tmp_path / "out", tables=tmp_path,
                        project="p")
    good_runs(tmp_path)                  # runs that would give other numbers: a frozen table never reads them
    written = write_tables([parse_spec("t", {**SPEC, "frozen": True, "sweep": "s"})], [], paths)
    assert written[0]["frozen"] and (tmp_path / "out" / "t.json").read_text() == committed   # never rewritten
    text = readme.read_text()
    assert "12.3" not in text and "50.0 (n=1)" in text and "51.0 (n=1)" in text and "81.5" not in text
    assert ("Frozen: rendered from `" in text and "written 2026-01-02 at commit abc1234 from a study" in text
            and "`make sweep PROJECT=p SWEEP=s`, then `frozen: false` in `configs/p/report/t.yaml`" in text)


def test_a_frozen_table_without_its_json_is_one_error_naming_it(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- report:t:start -->\nold\n<!-- report:t:end -->\n")
    paths = ReportPaths(runs=tmp_path, readme=readme, output_dir=tmp_path / "out", tables=tmp_path, project="p")
    spec = parse_spec("t", {**SPEC, "frozen": True, "sweep": "s"})
    with pytest.raises(DataError, match=r"out/t.json: the JSON of a frozen table is missing"):
        write_tables([spec], [], paths)
    frozen_json(tmp_path).write_text(json.dumps({"cells": []}))          # not stamped
    with pytest.raises(DataError, match=r"out/t.json: not a frozen table's JSON"):
        write_tables([spec], [], paths)
    assert readme.read_text().count("old") == 1


def test_the_readme_parser_is_gone():
    from shared.paths import REPO_ROOT

    assert importlib.util.find_spec("shared.report.kept") is None
    users = [path for folder in ("shared", "projects", "tests") for path in (REPO_ROOT / folder).rglob("*.py")
             if "shared.report.kept" in imported_modules(path)]
    assert users == []


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a import b`` counts as a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update({node.module, *(f"{node.module}.{alias.name}" for alias in node.names)})
    return names


def test_an_archive_copy_is_whole_or_ignored_and_named(tmp_path, capsys):
    runs, archive = good_runs(tmp_path), tmp_path / "archive"
    collect_with_archive(runs, archive)
    assert all((archive / "main" / n / MARKER).is_file() for n in ("k1-s1", "k1-s2", "k3-s1", "k3-s2"))
    assert not list((archive / "main").glob(".*"))                      # no temporary folder left
    (archive / "main" / "k3-s2" / MARKER).unlink()                      # a copy killed before its marker
    for folder in sorted((runs / "main").iterdir()):                    # a fresh clone: the archive alone
        for path in sorted(folder.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        folder.rmdir()
    cells = report(tmp_path, archive)
    assert "k3-s2 is an incomplete archive copy" in capsys.readouterr().out
    assert cells[("wbh_k3", "DSC")]["n"] == 1 and cells[("wbh_k3", "DSC")]["mean"] == pytest.approx(0.91)


def test_an_archived_run_without_its_config_is_an_error(tmp_path):
    runs, archive = good_runs(tmp_path), tmp_path / "archive"
    archive_run(runs / "main" / "k3-s1", archive)
    (archive / "main" / "k3-s1" / ".hydra" / "config.yaml").unlink()
    collect_with_archive(runs, archive)          # its run folder is here: copied again, whole
    assert (archive / "main" / "k3-s1" / ".hydra" / "config.yaml").is_file()
    (archive / "main" / "k3-s1" / ".hydra" / "config.yaml").unlink()
    with pytest.raises(DataError, match=r"k3-s1/.hydra/config.yaml is missing from an archived run"):
        collect_with_archive(tmp_path / "fresh_clone_has_no_runs", archive)


def test_committed_json_names_runs_relative_to_the_repo(tmp_path):
    from shared.paths import REPO_ROOT
    from shared.report.tables import in_repo

    assert in_repo(REPO_ROOT / "reports" / "p" / "runs" / "main" / "k1-s1") == "reports/p/runs/main/k1-s1"
    assert in_repo(tmp_path / "x") == str(tmp_path / "x")   # outside the repo: as it is


def test_a_sweep_job_another_process_trains_is_skipped(run_project, tmp_path, capsys):
    """Two `make sweep` of one sweep: the job a first process holds is skipped by the second, not trained
    into the same folder (the kernel drops the lock when its holder exits, kill -9 included)."""
    from shared.job_lock import job_lock

    job = tmp_path / "classification-train"
    with job_lock(job) as first:
        assert first
        _, result = run_project("classification", ["skip_finished=true", "logger=none"])
        assert result == {} and "another process is training it" in capsys.readouterr().out
        assert not (job / "metrics.json").exists()
    with job_lock(job) as again:   # released: the next process gets it
        assert again
