"""Progress when stdout is not a terminal: one line per epoch and every N steps (step, loss, monitored
metric, elapsed, ETA), the same lines in the run folder's log."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.demos.boring_classes import BoringModel

from shared.callbacks.progress import LineProgress, progress_bar
from shared.config import compose
from shared.paths import REPO_ROOT

LINE = re.compile(r"^epoch (\d+)/3 step (\d+)/4 loss \d+\.\d{4} val/loss \d+\.\d{4} elapsed \d+:\d\d:\d\d "
                  r"eta \d+:\d\d:\d\d( \(epoch done\))?$")


class _LogsLoss(BoringModel):
    def training_step(self, batch, batch_idx):
        out = super().training_step(batch, batch_idx)
        self.log("train/loss", out["loss"])
        return out

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.step(batch))


class _FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_a_terminal_gets_plain_lines_a_terminal_the_rich_bar(monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert isinstance(progress_bar(every_n_steps=7, monitor="val/miou"), LineProgress)
    monkeypatch.setattr(sys, "stdout", _FakeTTY())
    assert isinstance(progress_bar(), RichProgressBar)
    assert compose("semiseg").callbacks.progress_bar.monitor == "val/miou"


def test_lines_per_epoch_and_every_n_steps_also_in_the_run_log(tmp_path):
    out = io.StringIO()
    trainer = pl.Trainer(max_epochs=3, limit_train_batches=4, limit_val_batches=1, logger=False,
                         enable_checkpointing=False, enable_model_summary=False, accelerator="cpu",
                         callbacks=[LineProgress(every_n_steps=2, monitor="val/loss", stream=out)],
                         default_root_dir=str(tmp_path), log_every_n_steps=1)
    trainer.fit(_LogsLoss())
    lines = out.getvalue().splitlines()
    assert lines[0] == "fit: 3 epochs x 4 batches, starting with epoch 1"
    status = lines[1:]
    # per epoch: step 2 (every 2 steps; step 4 is the epoch line), then the epoch line
    assert len(status) == 6, lines
    matches = [LINE.match(line) for line in status[1:]]  # the first step line has no val/loss yet
    assert all(matches), status
    assert [(m.group(1), m.group(2), bool(m.group(3))) for m in matches] == [
        ("1", "4", True), ("2", "2", False), ("2", "4", True), ("3", "2", False), ("3", "4", True)]
    assert status[0].startswith("epoch 1/3 step 2/4 loss ") and "val/loss" not in status[0]
    assert status[-1].endswith("eta 0:00:00 (epoch done)")
    assert (tmp_path / "progress.log").read_text().splitlines() == lines


def test_no_step_lines_with_every_n_steps_0(tmp_path):
    out = io.StringIO()
    trainer = pl.Trainer(max_epochs=2, limit_train_batches=3, limit_val_batches=0, logger=False,
                         enable_checkpointing=False, enable_model_summary=False, accelerator="cpu",
                         callbacks=[LineProgress(every_n_steps=0, stream=out)], default_root_dir=str(tmp_path))
    trainer.fit(BoringModel())
    status = out.getvalue().splitlines()[1:]
    assert [line.split(" elapsed")[0] for line in status] == ["epoch 1/2 step 3/3", "epoch 2/2 step 3/3"]


@pytest.mark.slow
def test_a_cli_training_with_stdout_to_a_file_prints_progress_and_logs_it(tmp_path):
    """The CLI (Hydra job logging on) with stdout piped (not a TTY): the lines reach stdout and
    Hydra's job log in the run folder (<run>/tasks.log, otherwise empty)."""
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "shared", "train", "classification", "debug=smoke", "data.options.image_size=32",
         "data.image_size=32", "data.batch_size=4", "data.num_workers=0", "model=msff_base", "trainer.max_epochs=2",
         "+callbacks.progress_bar={_target_:shared.callbacks.progress.progress_bar,every_n_steps:1,"
         "monitor:val/loss}", f"hydra.run.dir={run}", f"paths.log_dir={tmp_path}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("fit:", "epoch ", "test "))]
    assert lines[0] == "fit: 2 epochs x 2 batches, starting with epoch 1"
    assert sum(line.endswith("(epoch done)") for line in lines) == 2
    assert any("val/loss" in line and "eta" in line for line in lines)
    assert (run / "tasks.log").read_text().splitlines() == lines
