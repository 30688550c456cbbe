"""No result lost without a word: unique run folders, writable folders checked before any work, the
first failed checkpoint save stops the run, a resumed run keeps its CSV rows, bad settings are one
line naming the key, and a failed run leaves no half-empty run folder."""

from __future__ import annotations

import csv
import errno
import json
import os
from pathlib import Path

import fsspec.implementations.local as fsspec_local
import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.demos.boring_classes import BoringModel
from torch.utils.data import DataLoader, Dataset

from shared.callbacks.checked_checkpoint import CheckedCheckpoint, CheckpointSaveError
from shared.config import compose
from shared.errors import DataError
from shared.loggers import build_loggers
from shared.run_folder import drop_empty_run, unique_run_dir
from shared.tasks import one_line, run_task

TINY = ["debug=smoke", "data.options.image_size=32", "data.image_size=32", "data.batch_size=4",
        "data.num_workers=0", "model=msff_base"]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _cfg(tmp_path: Path, overrides: list[str], run: str = "run", project: str = "classification"):
    return compose(project, [*TINY, f"paths.output_dir={tmp_path / run}", f"paths.log_dir={tmp_path}",
                             *overrides])


def _run_task_fails(cfg, capsys) -> str:
    """run_task exits 1 with one line on stderr (no traceback); returns that line."""
    with pytest.raises(SystemExit) as exc:
        run_task(cfg)
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# -- 1. unique run folders -------------------------------------------------------------------------
def test_the_same_run_folder_name_twice_gives_two_new_folders(tmp_path):
    base = str(tmp_path / "exp" / "2026-01-01_00-00-00-s1")
    first, second, third = (unique_run_dir(base) for _ in range(3))
    assert first == base and second == f"{base}-1" and third == f"{base}-2"
    assert all(Path(p).is_dir() for p in (first, second, third))


def test_default_run_folder_names_the_seed_and_is_new_per_run(tmp_path):
    dirs = []
    for seed in (1, 2, 2):
        cfg = compose("classification", [f"paths.log_dir={tmp_path}", f"seed={seed}"], return_hydra_config=True)
        dirs.append(cfg.hydra.run.dir)
        assert cfg.hydra.run.dir == cfg.hydra.run.dir  # resolved once per config: no new folder per read
    assert len(set(dirs)) == 3 and all(Path(d).is_dir() for d in dirs)
    assert Path(dirs[0]).name.endswith("-s1") and "-s2" in Path(dirs[1]).name and "-s2" in Path(dirs[2]).name
    assert len(list(Path(dirs[0]).parent.iterdir())) == 3  # one folder per resolved run, nothing more
    assert compose("classification", ["seed=5"]).logger.wandb.name.endswith("-s5")


@pytest.mark.slow   # two CLI trainings (shared.__main__.main)
def test_two_cli_runs_with_the_same_timestamp_keep_both_results(tmp_path):
    """Both runs get the folder name <base> (as two runs started in the same second do): the second
    gets <base>-1, and both metrics.json exist."""
    from shared.__main__ import main

    base = tmp_path / "classification" / "train" / "same-second"
    for seed in (1, 1):
        assert main(["train", "classification", *TINY, "logger=csv", f"seed={seed}", f"paths.log_dir={tmp_path}",
                     f"hydra.run.dir=${{unique_dir:'{base}'}}"]) == 0
    folders = sorted(base.parent.iterdir())
    assert [f.name for f in folders] == ["same-second", "same-second-1"]
    for folder in folders:
        assert "fit/train/loss" in json.loads((folder / "metrics.json").read_text())
        assert (folder / "checkpoints" / "last.ckpt").is_file()


def test_sweep_jobs_keep_their_deterministic_folders(tmp_path):
    cfg = compose("semiseg", ["+sweep=smoke", f"paths.log_dir={tmp_path}"], return_hydra_config=True)
    assert cfg.hydra.sweep.dir == f"{tmp_path}/semiseg/sweeps/smoke"
    assert "unique_dir" not in str(cfg.hydra.sweep.subdir) and cfg.resume_from_last


# -- 2. writable folders, the first failed save --------------------------------------------------
def test_a_checkpoint_folder_under_a_file_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    cfg = _cfg(tmp_path, [f"callbacks.model_checkpoint.dirpath={tmp_path / 'file' / 'ckpts'}"])
    monkeypatch.setattr("shared.tasks.dispatch", lambda cfg: pytest.fail("work started"))
    line = _run_task_fails(cfg, capsys)
    assert "callbacks.model_checkpoint.dirpath" in line and str(tmp_path / "file") in line


@pytest.mark.parametrize("key", ["paths.output_dir", "output", "callbacks.last_checkpoint.dirpath"])
def test_a_read_only_folder_is_refused_before_any_work(tmp_path, capsys, monkeypatch, key):
    if IS_ROOT:
        pytest.skip("running as root: chmod does not stop root from writing (the file-parent case covers it)")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        overrides = [f"{key}={locked / 'x'}"] if key != "paths.output_dir" else []
        cfg = _cfg(tmp_path, overrides, run="locked/x" if key == "paths.output_dir" else "run")
        monkeypatch.setattr("shared.tasks.dispatch", lambda cfg: pytest.fail("work started"))
        line = _run_task_fails(cfg, capsys)
        assert key in line and str(locked) in line
    finally:
        locked.chmod(0o700)


class _LogsLoss(BoringModel):
    def training_step(self, batch, batch_idx):
        out = super().training_step(batch, batch_idx)
        self.log("train/loss", out["loss"])
        return out

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.step(batch))


def _fit(tmp_path: Path, callback: ModelCheckpoint, epochs: int = 3) -> pl.Trainer:
    trainer = pl.Trainer(max_epochs=epochs, limit_train_batches=2, limit_val_batches=1, logger=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[callback],
                         default_root_dir=str(tmp_path), accelerator="cpu")
    trainer.fit(_LogsLoss())
    return trainer


@pytest.fixture
def refused_saves(monkeypatch, tmp_path):
    """Opening a file for writing under <tmp>/ckpts fails with EACCES, as in a read-only folder for a
    normal user (root ignores chmod, so the refusal is made here)."""
    original = fsspec_local.LocalFileSystem._open
    folder = str(tmp_path / "ckpts")

    def _open(self, path, mode="rb", *args, **kwargs):
        if "w" in mode and str(path).startswith(folder):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return original(self, path, mode, *args, **kwargs)

    monkeypatch.setattr(fsspec_local.LocalFileSystem, "_open", _open)
    return tmp_path / "ckpts"


def test_lightning_swallows_a_refused_save(tmp_path, refused_saves):
    """The 'before': plain ModelCheckpoint fits to the end and writes nothing, without a word."""
    trainer = _fit(tmp_path, ModelCheckpoint(dirpath=refused_saves, filename="last"))
    assert trainer.current_epoch == 3 and not list(refused_saves.glob("*.ckpt"))


def test_the_first_refused_save_stops_the_run(tmp_path, refused_saves):
    with pytest.raises(CheckpointSaveError, match="checkpoint not written: .*last.ckpt"):
        _fit(tmp_path, CheckedCheckpoint(dirpath=refused_saves, filename="last"))


def test_a_save_into_a_read_only_folder_stops_the_run(tmp_path):
    if IS_ROOT:
        pytest.skip("running as root: chmod does not stop root from writing (the EACCES case covers it)")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(CheckpointSaveError, match="checkpoint not written"):
            _fit(tmp_path, CheckedCheckpoint(dirpath=folder, filename="last"))
    finally:
        folder.chmod(0o700)


class BreakCheckpointFolder(pl.Callback):
    """After the writability check: the checkpoint folder becomes a file (the disk went away, ...)."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def on_fit_start(self, trainer, pl_module) -> None:
        if self.folder.is_dir():
            self.folder.rmdir()
        self.folder.write_text("")


def test_a_failed_save_in_a_training_run_is_one_line_and_no_metrics(tmp_path, capsys):
    run = tmp_path / "run"
    cfg = _cfg(tmp_path, ["trainer.max_epochs=3", "+callbacks.breaker._target_="
                          "tests.robustness.test_robust_runs.BreakCheckpointFolder",
                          f"+callbacks.breaker.folder={run / 'checkpoints'}"])
    line = _run_task_fails(cfg, capsys)
    assert "checkpoint not written" in line and str(run / "checkpoints") in line
    assert not (run / "metrics.json").exists()


# -- 3. resume appends to the CSV log ------------------------------------------------------------
def test_the_csv_log_keeps_earlier_rows(tmp_path):
    cfg = _cfg(tmp_path, ["logger=csv"])
    first = build_loggers(cfg, tmp_path)[0]
    first.log_metrics({"train/loss": 1.0, "epoch": 0}, step=0)
    first.save()
    second = build_loggers(cfg, tmp_path)[0]  # the resumed job: same run folder
    second.log_metrics({"train/loss": 0.5, "val/miou": 0.2, "epoch": 1}, step=1)  # a new column too
    second.save()
    with open(tmp_path / "csv" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["epoch"], r["train/loss"], r["val/miou"]) for r in rows] == [("0", "1.0", ""), ("1", "0.5", "0.2")]


def test_resume_from_last_ckpt_appends_to_metrics_csv(run_project, tmp_path):
    """Fit 1 epoch, resume to 2 from last.ckpt in the same folder: the CSV holds both epochs."""
    common = [*TINY[1:], "logger=csv", "trainer.accelerator=cpu", "trainer.devices=1",
              "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
              "trainer.limit_test_batches=1", "callbacks.progress_bar=null", "callbacks.model_summary=null",
              "trainer.log_every_n_steps=1", "test_after_fit=false"]
    cfg, _ = run_project("classification", [*common, "trainer.max_epochs=1"], smoke=False)
    run = Path(cfg.paths.output_dir)
    run_project("classification", [*common, "trainer.max_epochs=2", "resume_from_last=true"], smoke=False)
    with open(run / "csv" / "metrics.csv", newline="") as f:
        epochs = {r["epoch"] for r in csv.DictReader(f) if r.get("epoch")}
    assert {"0", "1"} <= {e.split(".")[0] for e in epochs}
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 1


# -- 5. settings checked before any work; no half-empty run folder --------------------------------
@pytest.mark.parametrize("key,value", [
    ("data.batch_size", "0"), ("data.batch_size", "-4"), ("data.batch_size", "abc"), ("data.batch_size", "2.5"),
    ("trainer.max_epochs", "0"), ("trainer.max_epochs", "ten"), ("seed", "-1"), ("seed", "x1"),
    ("data.num_workers", "-1"), ("data.num_workers", "two"), ("data.batch_size", "true"),
])
def test_bad_settings_are_one_line_naming_the_key_before_any_work(tmp_path, capsys, monkeypatch, key, value):
    monkeypatch.setattr("shared.tasks.dispatch", lambda cfg: pytest.fail("work started"))
    line = _run_task_fails(_cfg(tmp_path, [f"{key}={value}"]), capsys)
    assert line.startswith(f"error: {key} must be")


def test_good_edge_settings_pass(tmp_path, monkeypatch):
    monkeypatch.setattr("shared.tasks.dispatch", lambda cfg: "ran")
    for overrides in (["seed=0", "data.num_workers=0"], ["trainer.max_epochs=-1"], ["data.batch_size=1"]):
        assert run_task(_cfg(tmp_path, overrides)) == "ran"


def _hydra_leftovers(run: Path) -> None:
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("a: 1\n")
    (run / "tasks.log").write_text("")
    (run / "csv").mkdir()
    (run / "csv" / "hparams.yaml").write_text("a: 1\n")
    (run / "wandb" / "offline-run-x" / "files").mkdir(parents=True)
    (run / "wandb" / "offline-run-x" / "files" / "wandb-metadata.json").write_text("{}")


def test_a_failed_run_folder_with_only_bookkeeping_is_removed(tmp_path, capsys):
    run = tmp_path / "classification" / "train" / "exp" / "ts-s1"
    _hydra_leftovers(run)
    cfg = compose("classification", ["logger=csv", f"paths.output_dir={run}", f"paths.log_dir={tmp_path}",
                                     "data=fashion_top15", f"paths.data_root={tmp_path / 'nowhere'}"])
    line = _run_task_fails(cfg, capsys)
    assert "dataset folder not found" in line
    assert not run.exists() and not (tmp_path / "classification").exists() and tmp_path.is_dir()


def test_a_run_folder_with_results_is_kept(tmp_path):
    run = tmp_path / "run"
    _hydra_leftovers(run)
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert not drop_empty_run(run, tmp_path) and (run / "checkpoints" / "last.ckpt").is_file()


def test_an_unexpected_error_also_drops_the_empty_run_folder(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _hydra_leftovers(run)

    def boom(cfg):
        raise RuntimeError("bug")

    monkeypatch.setattr("shared.tasks.dispatch", boom)
    with pytest.raises(RuntimeError):
        run_task(_cfg(tmp_path, []))
    assert not run.exists()


# -- 4 (the CLI half). A DataError raised in a DataLoader worker is one line -----------------------
class _BadSample(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int):
        raise DataError(f"mask /data/{index}.png: label value(s) [77] outside the class range [0, 9)")


def test_a_data_error_from_a_dataloader_worker_is_one_line():
    with pytest.raises(DataError) as exc:
        next(iter(DataLoader(_BadSample(), num_workers=1)))
    assert "Traceback" in str(exc.value)  # what PyTorch puts into the message
    assert one_line(exc.value) == "mask /data/0.png: label value(s) [77] outside the class range [0, 9)"
