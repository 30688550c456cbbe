"""make report on damaged, missing, half-copied and duplicated-label runs: one line naming the file, never
another run's (or another row's) numbers."""

from __future__ import annotations

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
