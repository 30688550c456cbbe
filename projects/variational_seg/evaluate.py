"""``make eval PROJECT=variational_seg data=grabcut model=<wbh|tv|rci|unet>``: run a model over a split
through the Lightning Trainer, then write ``per_image.csv`` (DSC, HD, HD95, iterations, time, markers),
``summary.json`` and ``metrics.json``. ``make train`` fits model=unet (unet_fit.py, then tests it the same
way); on a parameter-free model it says so and evaluates."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from projects.variational_seg.unet import load_unet, load_unet_module
from projects.variational_seg.unet_fit import fit_unet
from shared.errors import ConfigError
from shared.loggers import finish_loggers
from shared.report.cells import summarise as summarise_values
from shared.tasks import build_trainer, finished_results, write_metrics

SUMMARY_KEYS = ("dice", "hd", "hd95", "hd_pct", "iterations", "seconds")


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """n, empty cases, ``<key>`` (the mean over images: the metric itself) and ``<key>_std`` (their sample
    std, shared.report's convention)."""
    out: dict[str, Any] = {"n": len(rows), "empty_cases": int(sum(r["empty_case"] for r in rows))}
    for key in SUMMARY_KEYS:
        cell = summarise_values([r[key] for r in rows])
        out[key] = cell.mean if cell else float("nan")
        out[f"{key}_std"] = cell.std if cell and cell.std is not None else float("nan")
    return out


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()})


def _module(cfg: DictConfig):
    if cfg.model.kind == "unet":
        return load_unet_module(cfg)
    return instantiate(cfg.module, _recursive_=False)


def evaluate_module(cfg: DictConfig, module: Any, trainer: pl.Trainer | None = None,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Test ``module`` over ``data`` (``trainer``: the one that fitted it, else a new one): per_image.csv,
    summary.json, then metrics.json (``test/<summary key>`` and ``extra``). ``module`` None: only ``extra``."""
    run_dir = Path(cfg.paths.output_dir)
    trainer = trainer or build_trainer(cfg, run_dir)
    if module is None:
        finish_loggers(trainer)
        write_metrics(run_dir, dict(extra or {}))
        return dict(extra or {})
    datamodule = instantiate(cfg.datamodule, _recursive_=False)
    datamodule.prepare_data()
    trainer.test(module, datamodule=datamodule, verbose=False)
    finish_loggers(trainer)
    if not module.rows:
        raise ConfigError(f"no images were evaluated ({len(module.skipped)} skipped: empty ground truth)")
    write_rows(run_dir / "per_image.csv", module.rows)
    summary = {"data": cfg.data.name, "split": cfg.data.split, "model": cfg.model.name,
               "markers": OmegaConf.to_container(cfg.markers), "max_side": int(cfg.working.max_side),
               "params": dict(vars(module.params)) if getattr(module, "params", None) is not None else None,
               "device": str(module.device), "skipped_empty_gt": module.skipped, **summarise(module.rows)}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    tested = {f"test/{k}": v for k, v in summary.items() if isinstance(v, int | float)}
    write_metrics(run_dir, {**(extra or {}), **tested})
    print(f"{cfg.model.name} on {cfg.data.name}/{cfg.data.split} ({summary['n']} images, markers "
          f"{cfg.markers.source} k={cfg.markers.k}): DSC {summary['dice']:.4f} +- {summary['dice_std']:.4f}  "
          f"HD {summary['hd']:.1f} px  HD95 {summary['hd95']:.1f} px  iterations "
          f"{summary['iterations']:.1f} +- {summary['iterations_std']:.1f}  {summary['seconds']:.2f} s/img")
    print(f"per-image CSV -> {run_dir / 'per_image.csv'}")
    return summary


def run(cfg: DictConfig) -> dict[str, Any]:
    """``eval``: the configured model over the data (model=unet: the checkpoint ``ckpt_path``); with a
    ``noc`` block (``experiment=noc``) the field's click protocol instead (``noc_eval``)."""
    if cfg.get("noc"):
        from projects.variational_seg.noc_eval import run as run_noc

        return run_noc(cfg)
    if cfg.model.get("kind") == "click_model":
        raise ConfigError(f"model={cfg.model.name} is an incremental click model: only the click protocol runs it "
                          f"(add experiment=noc)")
    run_dir = Path(cfg.paths.output_dir)
    done = finished_results(cfg, run_dir)
    if done is not None:
        print(f"skip {run_dir} (done)")
        return done
    return evaluate_module(cfg, _module(cfg))


def run_train(cfg: DictConfig) -> dict[str, Any]:
    """``train``: model=unet is fitted (then tested). The variational models and the anchors have no
    trainable parameters: ``train`` says so in one line and runs their evaluation, so that the embedded
    default (``make train PROJECT=variational_seg``) and a sweep (whose jobs always run ``train``) work."""
    if cfg.get("noc"):   # the NoC protocol (a sweep's jobs run `train`); model=unet: a trained CKPT
        return run(cfg)
    if cfg.model.kind == "unet":
        return train_and_test_unet(cfg)
    print(f"note: model={cfg.model.name} has no trainable parameters (only model=unet trains): evaluating it, "
          f"as `make eval PROJECT=variational_seg model={cfg.model.name}` does")
    return run(cfg)


def train_and_test_unet(cfg: DictConfig) -> dict[str, Any]:
    """Fit the U-Net through the shared trainer (unet_fit.py), then, with ``test_after_fit``, test its
    checkpoint on ``data`` as ``eval`` does; metrics.json holds the fit's results, the checkpoint and the test."""
    run_dir = Path(cfg.paths.output_dir)
    done = finished_results(cfg, run_dir)
    if done is not None:
        print(f"skip {run_dir} (done)")
        return done
    ckpt, fitted = fit_unet(cfg)
    extra = {**fitted, "checkpoint": str(ckpt)}
    print(f"U-Net checkpoint -> {ckpt}")
    return evaluate_module(cfg, load_unet(ckpt) if cfg.get("test_after_fit", True) else None, extra=extra)
