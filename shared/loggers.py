"""Loggers: W&B (offline unless WANDB_MODE says otherwise) grouped by project/experiment, plus CSV."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

from shared.noise import quiet_known_noise


def build_loggers(cfg: DictConfig, run_dir: Path) -> list[Logger]:
    quiet_known_noise()  # before the Trainer that these loggers go to is built
    loggers: list[Logger] = []
    for name, spec in (cfg.get("logger") or {}).items():
        if spec is None:
            continue
        if name == "wandb" and os.environ.get("WANDB_MODE") == "disabled":
            continue
        extra = {"tags": [*(spec.get("tags") or []), *run_tags(cfg)]} if name == "wandb" else {}
        logger = instantiate(spec, save_dir=str(run_dir), **extra)
        if isinstance(logger, CSVLogger):
            keep_earlier_rows(logger)
        init = getattr(logger, "_wandb_init", None)
        if isinstance(init, dict) and init.get("anonymous") is None:
            init.pop("anonymous", None)   # W&B warns "has no effect" for anonymous=None (shared/noise.py)
        loggers.append(logger)
    return loggers


class AppendingExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing ``metrics.csv`` when it starts; a resumed sweep job
    (same run folder) would lose the rows of its earlier epochs, which ``make report`` reads. This
    one continues the file: its header becomes the known keys, new rows are appended (a new key
    rewrites the file with the wider header, rows kept, as Lightning does within one run)."""

    def _check_log_dir_exists(self) -> None:
        if not self._fs.isfile(self.metrics_file_path):
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as f:
            self.metrics_keys = next(csv.reader(f), [])


def keep_earlier_rows(logger: CSVLogger) -> None:
    """Give a CSVLogger the appending writer (its ``experiment`` is created on first use otherwise)."""
    logger._experiment = AppendingExperimentWriter(log_dir=logger.log_dir)


def run_tags(cfg: DictConfig) -> list[str]:
    """``run_tags: {method: mvpmatch, seed: 0}`` (set by a sweep config) -> ["method:mvpmatch", "seed:0"].

    The same keys stay in the logged config (``run_tags.method`` ...), which is what the W&B runs
    table groups by; the tags make the runs filterable in the W&B search bar."""
    tags = cfg.get("run_tags") or {}
    return [f"{key}:{value}" for key, value in tags.items()]


def log_summary(trainer, results: dict) -> None:
    """Put metrics.json's numbers (``final/test/...``, ``best/test/...``, ``fit/...``) in the W&B run
    summary, where the runs table and grouped panels read them (the two test loops both log under
    ``test/...``, so the history alone cannot tell the final from the val-selected model)."""
    if not trainer.is_global_zero:  # other ranks hold a DummyExperiment
        return
    summary = {k: v for k, v in results.items() if isinstance(v, (int, float))}
    for logger in wandb_loggers(trainer):
        logger.experiment.summary.update(summary)


def log_config(trainer, cfg: DictConfig) -> None:
    """Record the whole resolved config with every logger (W&B shows it in the run's config panel)."""
    config = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    for logger in trainer.loggers:
        logger.log_hyperparams(config)  # type: ignore[arg-type]


def wandb_loggers(trainer) -> list[WandbLogger]:
    return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]


def finish_loggers(trainer) -> None:
    """Close W&B runs so offline files are complete and a next run in this process gets its own run."""
    for logger in wandb_loggers(trainer):
        logger.experiment.finish()
