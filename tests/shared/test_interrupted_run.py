"""A training interrupted by Ctrl-C writes no metrics.json (Lightning exits, or shared.tasks refuses to write the
results of a fit that did not finish), so a sweep with ``skip_finished`` trains the folder again."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl

import shared.tasks
from shared.errors import EcomvisionError

TINY = ["data.options.image_size=32", "data.image_size=32", "data.batch_size=4", "data.num_workers=0",
        "model=msff_base", "skip_finished=true", "resume_from_last=true"]


def compose_tiny(run_dir: Path):
    from shared.config import compose

    return compose("classification", ["debug=smoke", f"paths.output_dir={run_dir}", *TINY])


class CtrlCAfterOneStep(pl.Callback):
    def on_train_batch_end(self, trainer, *args) -> None:
        raise KeyboardInterrupt


def test_an_interrupted_training_leaves_no_metrics_and_trains_again(run_project, monkeypatch, tmp_path):
    build = shared.tasks.build_trainer

    def interrupted_trainer(cfg, run_dir):
        trainer = build(cfg, run_dir)
        trainer.callbacks.append(CtrlCAfterOneStep())
        return trainer

    monkeypatch.setattr(shared.tasks, "build_trainer", interrupted_trainer)
    with pytest.raises((EcomvisionError, SystemExit)):
        run_project("classification", TINY)
    run_dir = tmp_path / "classification-train"   # run_project's run folder
    assert run_dir.is_dir() and not (run_dir / "metrics.json").exists()
    assert shared.tasks.finished_results(compose_tiny(run_dir), run_dir) is None   # the sweep trains it again
