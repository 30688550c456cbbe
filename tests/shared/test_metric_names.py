"""The metric-naming convention (root README, "Metric names") and the one-time rewrite of recorded runs
to it (shared/report/rename_metrics.py): a tiny fake archive made with the old names, and the committed one."""

import csv
import json
from pathlib import Path

import pytest

from shared.errors import DataError
from shared.paths import REPO_ROOT
from shared.report.rename_metrics import main, rename_key, rewrite_all
from tests.metric_names import unconventional

OLD = {
    "classification": {"best/test/f1": 0.5, "final/test/precision": 0.4, "fit/val/recall": 0.3, "best/test/acc": 0.6,
                       "best/test/f1_weighted": 0.55, "best_checkpoint": "x.ckpt", "fit/lr-AdamW/pg1": 0.001},
    "quality": {"final/test/f1": 0.8, "final/test/precision": 0.7, "final/test/defect_f1": 0.6,
                "final/test/f1_colour_cast": 0.5, "fit/val/f1_blur": 0.4, "final/test/auroc": 0.9},
    "multimodal_tagging": {"best/test/f1_tag/colour:Navy Blue": 0.2, "best/test/f1_macro": 0.3},
    "semiseg": {"best/test/teacher/iou/full-body": 0.4, "fit/val/student/dice": 0.5, "best/test/miou": 0.45},
    "variational_seg": {"test/dsc_mean": 0.61, "test/dsc_std": 0.2, "test/hd95_mean": 90.0, "test/n": 40,
                        "all/noc90": 7.5, "checkpoint": "u.ckpt"},
}
NEW = {
    "classification": {"best/test/f1_macro": 0.5, "final/test/precision_macro": 0.4, "fit/val/recall_macro": 0.3,
                       "best/test/acc": 0.6, "best/test/f1_weighted": 0.55, "best_checkpoint": "x.ckpt",
                       "fit/lr-AdamW/pg1": 0.001},
    "quality": {"final/test/f1_binary": 0.8, "final/test/precision_binary": 0.7, "final/test/f1_macro": 0.6,
                "final/test/f1/colour_cast": 0.5, "fit/val/f1/blur": 0.4, "final/test/auroc": 0.9},
    "multimodal_tagging": {"best/test/f1/colour:Navy Blue": 0.2, "best/test/f1_macro": 0.3},
    "semiseg": OLD["semiseg"],
    "variational_seg": {"test/dice": 0.61, "test/dice_std": 0.2, "test/hd95": 90.0, "test/n": 40, "all/noc90": 7.5,
                        "checkpoint": "u.ckpt"},
}


def fake_run(root: Path, project: str) -> Path:
    """An archived run as the old code wrote it: config, metrics.json, CSV log (+ variational_seg's files)."""
    run = root / "runs" / "setting" / project
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(f"project: {project}\nseed: 0\n")
    (run / "metrics.json").write_text(json.dumps(OLD[project], indent=2) + "\n")   # in logging order, not sorted
    columns = ["epoch", "step", *(k.split("/", 1)[1] for k in OLD[project] if k.startswith(("best/", "final/")))]
    (run / "csv").mkdir()
    (run / "csv" / "metrics.csv").write_text(",".join(columns) + "\n0,10," + ",".join("0.5" for _ in columns[2:])
                                             + "\n1,20,\n")
    if project == "variational_seg":
        (run / "csv" / "metrics.csv").write_text("epoch,step,test/dsc,test/hd\n0,0,0.61,171.9\n")
        (run / "per_image.csv").write_text('id,dsc,hd,markers\n1,0.75,123.0,"162,369"\n')
        (run / "summary.json").write_text(json.dumps({"n": 40, "dsc_mean": 0.61, "dsc_std": 0.2, "params": {"lam": 2}}))
    return run


def fake_archive(root: Path) -> dict[str, Path]:
    runs = {project: fake_run(root, project) for project in OLD}
    (root / "classification").mkdir()
    (root / "classification" / "table2.json").write_text(json.dumps(
        {"table": "table2", "title": "F1 (– = no run)", "cells": [{"row": "a", "metric": "test/f1", "mean": 0.5},
                                      {"row": "a", "metric": ["test/precision", "test/acc"]},
                                      {"row": "b", "text": "-"}]},
        indent=2, ensure_ascii=False))
    return runs


def test_the_convention_accepts_every_projects_names_and_refuses_the_old_spellings():
    for project in NEW:
        assert unconventional(NEW[project]) == [], project
    assert sorted(unconventional({**OLD["classification"], **OLD["quality"], **OLD["variational_seg"]})) == sorted(
        ["best/test/f1", "final/test/precision", "fit/val/recall", "final/test/f1", "final/test/defect_f1",
         "final/test/f1_colour_cast", "fit/val/f1_blur", "test/dsc_mean", "test/dsc_std", "test/hd95_mean"])
    assert unconventional(["best/test/f1_tag/Men", "test/Acc", "final/acc"]) == ["best/test/f1_tag/Men", "test/Acc"]


def test_rename_rewrites_an_old_archive_once_and_a_second_run_changes_nothing(tmp_path):
    runs = fake_archive(tmp_path)
    changed = rewrite_all([tmp_path])
    assert runs["semiseg"] / "metrics.json" not in changed   # its names were the convention's already
    for project, run in runs.items():
        assert json.loads((run / "metrics.json").read_text()) == NEW[project], project
        assert list(json.loads((run / "metrics.json").read_text())) == list(NEW[project])   # order kept
    log = (runs["classification"] / "csv" / "metrics.csv").read_text()
    assert log.splitlines()[0] == "epoch,step,test/f1_macro,test/precision_macro,test/acc,test/f1_weighted"
    assert log.splitlines()[1:] == ["0,10,0.5,0.5,0.5,0.5", "1,20,"]                   # the rows untouched
    vs = runs["variational_seg"]
    assert (vs / "csv" / "metrics.csv").read_text().splitlines()[0] == "epoch,step,test/dice,test/hd"
    assert (vs / "per_image.csv").read_text() == 'id,dice,hd,markers\n1,0.75,123.0,"162,369"\n'
    assert json.loads((vs / "summary.json").read_text()) == {"n": 40, "dice": 0.61, "dice_std": 0.2,
                                                             "params": {"lam": 2}}
    table = json.loads((tmp_path / "classification" / "table2.json").read_text())
    assert "F1 (– = no run)" in (tmp_path / "classification" / "table2.json").read_text()   # written as it was
    assert [c.get("metric") for c in table["cells"]] == ["test/f1_macro", ["test/precision_macro", "test/acc"], None]
    snapshot = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert rewrite_all([tmp_path]) == []
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == snapshot


def test_a_sorted_metrics_json_stays_sorted(tmp_path):
    """training writes metrics.json with sorted keys; the rewrite sorts the new names the same way."""
    run = fake_run(tmp_path, "variational_seg")
    (run / "metrics.json").write_text(json.dumps(dict(sorted(OLD["variational_seg"].items())), indent=2))
    rewrite_all([tmp_path])
    assert list(json.loads((run / "metrics.json").read_text())) == sorted(NEW["variational_seg"])


def test_check_mode_changes_nothing_and_says_what_is_left(tmp_path, capsys):
    runs = fake_archive(tmp_path)
    before = (runs["quality"] / "metrics.json").read_text()
    assert main([str(tmp_path), "--check"]) == 1
    assert (runs["quality"] / "metrics.json").read_text() == before
    assert f"to rename: {runs['quality'] / 'metrics.json'}" in capsys.readouterr().out
    assert main([str(tmp_path)]) == 0 and main([str(tmp_path), "--check"]) == 0


def test_a_key_that_would_overwrite_another_is_an_error_naming_the_file(tmp_path):
    run = fake_run(tmp_path, "classification")
    (run / "metrics.json").write_text(json.dumps({"test/f1": 0.5, "test/f1_macro": 0.6}))
    with pytest.raises(DataError, match=r"metrics.json: 'test/f1' becomes 'test/f1_macro'"):
        rewrite_all([tmp_path])


def test_keys_without_a_stage_are_no_metrics_and_stay():
    assert rename_key("classification", "best_checkpoint") == "best_checkpoint"
    assert rename_key("classification", "fit/lr-AdamW/pg1") == "fit/lr-AdamW/pg1"
    assert rename_key("semiseg", "last/train/pl_class@0.95/bag") == "last/train/pl_class@0.95/bag"


def test_the_committed_archive_and_tables_use_the_convention():
    """Every archived run and table JSON was rewritten (a run archived from older code: run the rename,
    `python -m shared.report.rename_metrics reports/`), and every archived key follows the convention."""
    reports = REPO_ROOT / "reports"
    assert rewrite_all([reports], write=False) == []
    for path in reports.glob("*/runs/**/metrics.json"):
        assert unconventional(json.loads(path.read_text())) == [], path
    for path in reports.glob("*/runs/**/csv/metrics.csv"):
        with path.open(newline="") as f:
            assert unconventional(next(csv.reader(f))) == [], path
