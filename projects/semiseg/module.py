"""One LightningModule for the supervised baseline, UniMatch V2 and MvpMatch (and its ablations).

The method is configuration (``configs/semiseg/method/*.yaml``):

* ``semi: false`` -> supervised (labelled CE only);
* ``thresholds`` / ``weights`` / ``weighting`` -> the unsupervised term: UniMatch V2 is one level
  (0.95, weight 1), MvpMatch three levels (0.85 / 0.90 / 0.95, weights 0.1 / 0.2 / 0.7, nested);
* ``mu`` > 0 -> the historical-ensemble term, which needs a ``HistoricalCheckpointQueue`` callback
  (``fit`` stops at its start without one, as a semi method without the EMA teacher does).

The EMA teacher (``self.teacher``) and the queue (``self.history``) are owned by the shared callbacks
(``shared/callbacks``) and attached to the module; they are never in ``self.parameters()``.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch import nn

from projects.semiseg.evaluation import SegEvaluator
from projects.semiseg.losses import check_levels, hierarchical_masked_ce, masked_ce, supervised_ce
from projects.semiseg.model import backbone_and_head_params, build_model
from projects.semiseg.pseudo_labels import (
    PseudoLabels,
    cutmix,
    cutmix_labels,
    historical_pseudo_labels,
    teacher_pseudo_labels,
)
from projects.semiseg.stats import pseudo_label_stats
from shared.config import plain_dict
from shared.errors import ConfigError
from shared.lightning_utils import ClassNamesMixin
from shared.optim import build_optimizer, build_scheduler, optimizers_config


class SemiSegModule(ClassNamesMixin, pl.LightningModule):
    teacher: nn.Module | None = None        # attached by shared.callbacks.EMATeacher
    class_colours: list | None = None       # (r, g, b) or None per class, from a folder's classes.txt
    history: Any = None                     # attached by shared.callbacks.HistoricalCheckpointQueue

    def __init__(self, model: DictConfig | dict, num_classes: int, method: DictConfig | dict,
                 optim: DictConfig | dict, seed: int = 0, inference: DictConfig | dict | None = None) -> None:
        super().__init__()
        model, method, optim = plain_dict(model), plain_dict(method), plain_dict(optim)
        if method.get("semi", True):
            try:
                check_levels(method["thresholds"], method["weights"], method.get("weighting", "nested"))
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
        if method.get("mu", 0) < 0:
            raise ConfigError(f"method.mu must be >= 0, got {method['mu']}")
        self.save_hyperparameters({"model": model, "num_classes": num_classes, "method": method,
                                   "optim": optim, "seed": seed,
                                   "inference": plain_dict(inference) if inference is not None else None})
        self.method = method
        self.net = build_model(model, num_classes)
        self.class_names = [str(i) for i in range(num_classes)]
        self.evaluator = SegEvaluator(num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def inference_extra(self) -> dict[str, Any]:
        """What the network outputs, for predict, export and the Python API (shared/inference.py)."""
        return {"ignore_index": 255, "output": "logits (N, C, size, size); argmax over C = class index; the "
                "padding (bottom/right of long_side_pad) is dropped before resizing back to the photo",
                "colours": self.class_colours}

    # -- training -----------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, dict[str, torch.Tensor]], batch_idx: int) -> torch.Tensor:
        m, x = self.method, batch["labeled"]
        loss_x = supervised_ce(self.net(x["image"]), x["mask"])
        if not m.get("semi", True):
            self.log_losses(len(x["image"]), loss=loss_x, loss_x=loss_x)
            return loss_x
        u = batch["unlabeled"]
        teacher = teacher_pseudo_labels(self.require_teacher(), u["weak"], u["ignore"])
        history = historical_pseudo_labels(self.history, u["weak"], u["ignore"]) if m["mu"] > 0 else None
        strong = torch.cat([cutmix(u["strong1"], u["box1"]), cutmix(u["strong2"], u["box2"])])
        pred_s1, pred_s2 = self.net(strong, comp_drop=True, generator=self.dropout_generator()).chunk(2)
        views = [(pred_s1, u["box1"]), (pred_s2, u["box2"])]
        loss_u_multi = sum(hierarchical_masked_ce(p, cutmix_labels(teacher, box), m["thresholds"], m["weights"],
                                                  m["weighting"]) for p, box in views) / 2
        loss_u_prev = sum(masked_ce(p, cutmix_labels(history, box), m["history_threshold"])
                          for p, box in views) / 2 if history is not None else torch.zeros_like(loss_x)
        loss = (loss_x + loss_u_multi + m["mu"] * loss_u_prev) / 2
        self.log_losses(len(x["image"]), loss=loss, loss_x=loss_x, loss_u=loss_u_multi, loss_u_prev=loss_u_prev)
        self.log_pseudo_label_stats(teacher, history, u.get("gt"))
        return loss

    def on_fit_start(self) -> None:
        """A semi method without its callbacks fails here, before any step (the callbacks attach
        ``teacher`` and ``history`` in their ``setup``, which runs first)."""
        super().on_fit_start()  # the class names of the datamodule (per-class IoU keys)
        self.class_colours = getattr(self.trainer.datamodule, "colours", None)  # overlays of predict
        if self.method.get("semi", True):
            self.require_teacher()
        if self.method.get("mu", 0) > 0 and self.history is None:
            raise ConfigError(f"method {self.method.get('name')!r} has mu={self.method['mu']} (the historical "
                              f"term) but no shared.callbacks.HistoricalCheckpointQueue callback "
                              f"(callbacks.historical_queue); add it or set method.mu=0")

    def require_teacher(self) -> nn.Module:
        if self.teacher is None:
            raise ConfigError(f"method {self.method.get('name')!r} needs the EMA teacher: add the "
                              f"shared.callbacks.EMATeacher callback (callbacks.ema_teacher)")
        return self.teacher

    def dropout_generator(self) -> torch.Generator:
        """Complementary-dropout randomness from (seed, step, rank): reproducible and resume-exact."""
        g = torch.Generator()
        step_seed = (self.hparams.seed * 1_000_003 + self.global_step) * 64 + self.global_rank
        return g.manual_seed(step_seed)

    def log_losses(self, batch_size: int, **losses: torch.Tensor) -> None:
        self.log_dict({f"train/{k}": v.detach() for k, v in losses.items()}, prog_bar=True, batch_size=batch_size)

    def log_pseudo_label_stats(self, teacher: PseudoLabels, history: PseudoLabels | None,
                               gt: torch.Tensor | None = None) -> None:
        """Mask ratios etc. (projects/semiseg/stats.py); with the unlabelled crops' ground truth ``gt``
        (where the data has it) also the confident labels' foreground share, accuracy and class histogram."""
        stats = pseudo_label_stats(teacher, history, self.method["thresholds"], gt, self.class_names)
        self.log_dict({f"train/{k}": v for k, v in stats.items()}, batch_size=len(teacher.label))

    # -- evaluation: student and teacher, val and test ------------------------------------------------
    def _models(self) -> dict[str, nn.Module]:
        models: dict[str, nn.Module] = {"student": self.net}
        if self.teacher is not None:
            models["teacher"] = self.teacher
        return models

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.evaluator.update("val", self._models(), batch["image"], batch["mask"])

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.evaluator.update("test", self._models(), batch["image"], batch["mask"])

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.evaluator.compute("val", self.class_names), prog_bar=False, sync_dist=False)

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.evaluator.compute("test", self.class_names), sync_dist=False)
        self.evaluator.save_confusion("test", self.trainer, self.class_names)

    # -- optimisation (UniMatch V2: AdamW, two groups, poly 0.9 per step) -----------------------------
    def configure_optimizers(self) -> Any:
        """The common ``optim`` config (shared/optim.py, ``schedule: poly``) over two groups: the backbone
        at lr, the head at lr x ``lr_multi``."""
        cfg = {"schedule": "poly", **self.hparams.optim}  # checkpoints from before optim.schedule: poly
        lr = scaled_lr(cfg, self.trainer)
        backbone, head = backbone_and_head_params(self.net)
        optimizer = build_optimizer([{"params": backbone, "lr": lr},
                                     {"params": head, "lr": lr * cfg["lr_multi"]}], cfg, lr=lr)
        return optimizers_config(optimizer, build_scheduler(optimizer, cfg, self.trainer.estimated_stepping_batches))


def scaled_lr(cfg: dict[str, Any], trainer: pl.Trainer) -> float:
    """lr x (global batch / reference batch) when ``optim.scale_lr_with_batch`` (UniMatch V2 issues #16/#29)."""
    if not cfg.get("scale_lr_with_batch", False):
        return float(cfg["lr"])
    batch = int(getattr(trainer.datamodule, "cfg", {}).get("batch_size", 1))  # type: ignore[union-attr]
    global_batch = batch * trainer.world_size * trainer.accumulate_grad_batches
    return float(cfg["lr"]) * global_batch / float(cfg["reference_batch"])
