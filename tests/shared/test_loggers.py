"""W&B runs offline by default, grouped by project and experiment, with the config recorded; CSV beside it."""

import time
from pathlib import Path

from pytorch_lightning.loggers import CSVLogger, WandbLogger

from shared.config import compose
from shared.loggers import build_loggers

TINY = ["data.options.image_size=32", "data.image_size=32", "data.batch_size=4", "data.num_workers=0",
        "model=msff_base"]


def test_default_loggers_are_wandb_offline_grouped_and_csv(tmp_path):
    cfg = compose("classification", [f"paths.output_dir={tmp_path}", "data=fashion_top15", "model=resnet50"])
    loggers = build_loggers(cfg, tmp_path)
    kinds = {type(lg) for lg in loggers}
    assert kinds == {WandbLogger, CSVLogger}
    wandb = next(lg for lg in loggers if isinstance(lg, WandbLogger))
    init = wandb._wandb_init
    assert init["project"] == "ecomvision-classification"
    assert init["group"] == "fashion_top15-resnet50" and wandb._offline
    assert {"classification", "fashion_top15", "resnet50"} <= set(init["tags"])


def test_offline_run_files_hold_the_config(run_project):
    cfg, _ = run_project("classification", [*TINY, "logger=default"])
    runs = list((Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    # wandb-core (a separate process) may still be appending records when finish() returns on a
    # loaded machine: wait for the file to settle instead of reading it at once.
    deadline, blob = time.monotonic() + 30, b""
    while time.monotonic() < deadline:
        blob = runs[0].read_bytes()
        if b"train/loss" in blob:
            break
        time.sleep(0.5)
    assert b"msff_base" in blob and b"max_epochs" in blob and b"train/loss" in blob
    assert (Path(cfg.paths.output_dir) / "csv" / "metrics.csv").is_file()
