"""The first run, read by a newcomer (issue 28): the results table at the end of train and eval, a
progress line at least once a minute however slow the steps, test lines that say which weights they
test, and none of the dependencies' noise (Lightning's litlogger tip, the LeafSpec deprecation, "Total
FLOPs: 0", W&B's anonymous warning)."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.demos.boring_classes import BoringModel

from shared.callbacks.checked_checkpoint import CheckedCheckpoint
from shared.callbacks.model_summary import ModelSummary
from shared.callbacks.progress import LineProgress
from shared.config import compose
from shared.loggers import build_loggers
from shared.noise import quiet_known_noise
from shared.results_table import EVAL_COLUMNS, results_table

# ---- the results table ------------------------------------------------------------------------------------

def test_the_table_shows_final_and_val_selected_test_metrics_and_the_metrics_path():
    """semiseg's final/* numbers never reached the screen: W&B's summary is alphabetical and cut at 10."""
    results = {"final/test/miou": 0.3312, "final/test/teacher/miou": 0.3401, "best/test/miou": 0.3356,
               "best/test/teacher/miou": 0.3390, "final/test/teacher/iou/bag": 0.2,
               "best/test/teacher/iou/bag": 0.21, "fit/train/loss": torch.tensor(0.5),
               "best_checkpoint": "runs/x/checkpoints/epoch007.ckpt"}
    table = results_table(results, Path("runs/x/metrics.json")).splitlines()
    assert table[0] == "results on the test split:"
    assert table[1].split() == ["final", "weights", "val-selected"]
    assert table[2].split() == ["miou", "0.3312", "0.3356"]
    assert table[3].split() == ["teacher/miou", "0.3401", "0.3390"]
    assert table[4:] == ["  val-selected checkpoint: runs/x/checkpoints/epoch007.ckpt",
                         "  every number (with 1 per-class values): runs/x/metrics.json"]


def test_the_eval_table_has_one_column_and_a_train_without_test_says_so():
    table = results_table({"test/acc": 0.91, "test/f1": 0.88}, Path("m.json"), EVAL_COLUMNS).splitlines()
    assert table[1].split() == ["test"] and table[2].split() == ["acc", "0.9100"]
    assert results_table({"fit/val/acc": 0.5}, Path("m.json")).splitlines()[0] == \
        "results: no test metrics (test_after_fit=false?)"


# ---- progress at least once a minute ---------------------------------------------------------------------

class _Clock:
    """A clock that jumps ``step`` seconds at every batch (a machine where each step takes that long)."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        return self.now


class _Tick(pl.Callback):
    def __init__(self, clock: _Clock) -> None:
        self.clock = clock

    def on_train_batch_start(self, *args) -> None:
        self.clock.now += self.clock.step

    def on_validation_batch_start(self, *args) -> None:
        self.clock.now += self.clock.step

    def on_test_batch_start(self, *args) -> None:
        self.clock.now += self.clock.step


def _fit_with_clock(tmp_path: Path, step_seconds: float) -> list[str]:
    clock, out = _Clock(step_seconds), io.StringIO()
    progress = LineProgress(every_n_steps=50, stream=out, clock=clock)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=6, limit_val_batches=3, limit_test_batches=3,
                         logger=False, enable_model_summary=False, accelerator="cpu", num_sanity_val_steps=0,
                         callbacks=[_Tick(clock), progress,
                                    CheckedCheckpoint(dirpath=tmp_path / "ckpts", filename="epoch{epoch:03d}",
                                                      auto_insert_metric_name=False)],
                         default_root_dir=str(tmp_path))
    model = BoringModel()
    trainer.fit(model)
    trainer.test(model, ckpt_path=str(tmp_path / "ckpts" / "epoch001.ckpt"), verbose=False, weights_only=True)
    trainer.test(model, verbose=False)
    return out.getvalue().splitlines()


def test_slow_steps_still_print_a_line_at_least_once_a_minute(tmp_path):
    """Lines came every 50 steps or at epoch end: semiseg's first came after ~38 minutes."""
    lines = _fit_with_clock(tmp_path, step_seconds=61)
    steps = [line for line in lines if line.startswith("epoch 1/1 step ") and "(epoch done)" not in line]
    assert [line.split()[3] for line in steps] == ["1/6", "2/6", "3/6", "4/6", "5/6"]   # every step took > 60 s
    assert [line.split(" elapsed")[0] for line in lines if "validating" in line] == [
        "epoch 1 validating: batch 1/3", "epoch 1 validating: batch 2/3", "epoch 1 validating: batch 3/3"]
    assert any(line.startswith("test of epoch001.ckpt: batch 1/3 elapsed") for line in lines)


def test_fast_steps_print_no_more_lines_than_before(tmp_path):
    lines = _fit_with_clock(tmp_path, step_seconds=1)
    assert [line.split(" elapsed")[0] for line in lines] == [
        "fit: 1 epochs x 6 batches, starting with epoch 1", "epoch 1/1 step 6/6",
        "test of epoch001.ckpt: 3 batches in 0:00:03", "test of the current weights: 3 batches in 0:00:03"]


# ---- noise -------------------------------------------------------------------------------------------------

def test_lightning_tip_and_leafspec_deprecation_are_filtered(caplog):
    from pytorch_lightning.utilities._pytree import _tree_flatten

    quiet_known_noise()
    with caplog.at_level(logging.INFO, logger="pytorch_lightning.utilities.rank_zero"):
        log = logging.getLogger("pytorch_lightning.utilities.rank_zero")
        log.info("💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]")
        log.info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_known_noise()
        _tree_flatten({"a": torch.zeros(1)})
        warnings.warn("another FutureWarning still shows", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["another FutureWarning still shows"]


def test_model_summary_has_no_column_of_zero_flops(capsys):
    data = [(" ", ["0"]), ("Name", ["net"]), ("Type", ["Linear"]), ("Params", ["66"]), ("Mode", ["train"]),
            ("FLOPs", ["0"])]
    ModelSummary.summarize(data, 66, 66, 0.0003, {"train": 1, "eval": 0}, total_flops=0)
    out = capsys.readouterr().out
    assert "FLOPs" not in out and "Total params" in out and "Linear" in out
    ModelSummary.summarize(data, 66, 66, 0.0003, {"train": 1, "eval": 0}, total_flops=1200)
    assert "Total FLOPs" in capsys.readouterr().out   # measured FLOPs are still shown


def test_wandb_logger_gets_no_anonymous_setting(tmp_path):
    """Lightning passed anonymous=None to wandb.init: "The anonymous setting has no effect"."""
    cfg = compose("classification", ["logger=wandb", f"paths.output_dir={tmp_path}"])
    loggers = build_loggers(cfg, tmp_path)
    wandb = [lg for lg in loggers if type(lg).__name__ == "WandbLogger"]
    assert wandb and "anonymous" not in wandb[0]._wandb_init


def test_quality_logistic_fit_has_no_overflow_warnings():
    """48 "RuntimeWarning: overflow encountered in exp" in the suite: the fit's trial parameters reach
    the logistic's far tails, where 1 / (1 + exp(1000)) overflowed on its way to the right value, 0."""
    import numpy as np

    from projects.quality.metrics import _logistic4_jac, logistic4

    x = np.array([-1000.0, 0.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = logistic4(x, 1.0, 0.0, 0.0, 1.0)
        jac = _logistic4_jac(x, 1.0, 0.0, 0.0, 1.0)
    np.testing.assert_allclose(values, [0.0, 0.5, 1.0])
    assert np.isfinite(jac).all()
