"""Loggers: W&B (offline unless WANDB_MODE says otherwise) grouped by project/experiment, plus CSV."""

from __future__ import annotations

import os
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger, WandbLogger


def build_loggers(cfg: DictConfig, run_dir: Path) -> list[Logger]:
    loggers: list[Logger] = []
    for name, spec in (cfg.get("logger") or {}).items():
        if spec is None:
            continue
        if name == "wandb" and os.environ.get("WANDB_MODE") == "disabled":
            continue
        loggers.append(instantiate(spec, save_dir=str(run_dir)))
    return loggers


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
