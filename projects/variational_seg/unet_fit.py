"""How ``train`` fits the U-Net (``model=unet`` / ``unet_lite0``): through the shared trainer
(:func:`shared.tasks.train`: ``skip_finished``, ``resume_from_last``, the job lock, checkpoints/last.ckpt),
with the model config's ``module`` (:class:`unet.UNetModule`) and ``datamodule``
(:class:`unet_data.ClickTrainingData`) in place of the project's evaluation pair and
``trainer.max_epochs = model.train.epochs``. The evaluation (evaluate.py) then tests the checkpoint.

Where: the run folder; with ``unet_training_root`` (the table sweeps) one folder per training settings
under it, ``<model>-s<seed>-<settings key>``, so that every marker row of a table tests the one net
they all train (training clicks are simulated from the training masks: the row's markers do not enter)."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from projects.variational_seg.pipeline import set_threads
from shared.config import plain_dict
from shared.errors import CheckpointError
from shared.tasks import train


def fit_config(cfg: DictConfig, run_dir: Path) -> DictConfig:
    """``cfg`` with the U-Net's module and datamodule, its epochs, no test after the fit (the evaluation
    tests) and ``run_dir`` as the run folder (checkpoints, logs, metrics.json)."""
    fit = copy.deepcopy(cfg)
    with open_dict(fit):
        fit.module = cfg.model.module
        fit.datamodule = cfg.model.datamodule
        fit.trainer.max_epochs = int(cfg.model.train.epochs)
        fit.test_after_fit = False
        fit.paths.output_dir = str(run_dir)
        if run_dir != Path(cfg.paths.output_dir):
            fit.run_name = run_dir.name   # its own W&B run, not the first row's
    return fit


def settings_key(cfg: DictConfig) -> str:
    """16 hex digits over everything the fit reads: the model (its module, data and training settings; not
    its name), the optimiser, the seed, the data root (CCP) and the trainer (epochs, precision, device)."""
    fit = fit_config(cfg, Path(cfg.paths.output_dir))
    model = {k: v for k, v in plain_dict(cfg.model).items() if k != "name"}
    what = {"model": model, "optim": plain_dict(cfg.optim), "seed": int(cfg.seed),
            "data_root": str(cfg.paths.data_root), "trainer": plain_dict(fit.trainer)}
    return hashlib.sha1(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def training_dir(cfg: DictConfig) -> Path:
    root = cfg.get("unet_training_root")
    if not root:
        return Path(cfg.paths.output_dir)
    return Path(root) / f"{cfg.model.name}-s{cfg.seed}-{settings_key(cfg)}"


def fit_unet(cfg: DictConfig) -> tuple[Path, dict[str, Any]]:
    """Fit (or, done before with ``skip_finished``, find) the U-Net: its checkpoints/last.ckpt and the fit's
    results (``fit/...`` of metrics.json)."""
    run_dir = training_dir(cfg)
    set_threads(cfg.working)
    results = train(fit_config(cfg, run_dir))
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if not (run_dir / "metrics.json").is_file() or not ckpt.is_file():
        raise CheckpointError(f"{run_dir}: the U-Net training has not finished (another process may be training "
                              "it): run again once it has")
    return ckpt, results
