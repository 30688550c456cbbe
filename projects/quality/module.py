"""The quality LightningModule for the three model families (``model.kind``).

Training loss (learned families): ``BCE(reject)`` + ``w_defects * BCE(defects)`` (multi-label) +
``w_score * MSE(sigmoid(score), SSIM target)``, each head only where the model has it (``seed_cnn``
has the reject head only, as in the article). Every family exposes :meth:`predict_batch`, the one
inference path used by test metrics, the audit and the benchmark:

* ``p_reject`` (probability-like, ranks images for AUROC), ``reject`` (the decision),
* ``score`` in [0, 1] (higher = better; ``seed_cnn``: ``1 - p_reject``), compared with SSIM by SRCC/PLCC,
* ``p_defects`` (N, D) or None; NaN columns = defect not covered (classical).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from projects.quality.degradations import DEFECTS
from projects.quality.metrics import QualityMetrics
from projects.quality.models import create_model
from projects.quality.models.classical import ClassicalIQA, to_uint8
from shared.checkpoints import rebuilding_from_checkpoint, stamp
from shared.config import plain_dict
from shared.errors import ConfigError
from shared.lightning_utils import count_parameters, save_module_spec
from shared.optim import configure


class QualityModule(pl.LightningModule):
    def __init__(self, model: DictConfig | dict, image_size: int | list[int],
                 defect_names: list[str] | None = None, loss_weights: DictConfig | dict | None = None,
                 decision_threshold: float = 0.5, optim: DictConfig | dict | None = None,
                 inference: DictConfig | dict | None = None, init_from: str | None = None) -> None:
        """``inference``: the project config's ``inference`` node (resize, mean, std, data), written with the
        defect names, the working size and the decision threshold into every checkpoint (:meth:`spec_extra`).
        ``init_from``: start from these network weights (``default``: the shipped model; a ``.safetensors``
        or a quality checkpoint), e.g. to fine-tune the default model on a folder of one's own photos."""
        super().__init__()
        model = plain_dict(model)
        optim = plain_dict(optim) if optim is not None else None
        image_size = list(image_size) if not isinstance(image_size, int) else image_size
        defect_names = list(defect_names or DEFECTS)
        loss_weights = plain_dict(loss_weights or {"defects": 1.0, "score": 1.0})
        self.save_hyperparameters({"model": model, "image_size": image_size, "defect_names": defect_names,
                                   "loss_weights": loss_weights, "decision_threshold": decision_threshold,
                                   "optim": optim, "inference": spec_inference(inference, image_size),
                                   "init_from": init_from})
        self.kind = model["kind"]
        self.defect_names = defect_names
        self.net = create_model(model, image_size, defect_names)
        if init_from and not rebuilding_from_checkpoint():  # a checkpoint being loaded brings its own weights
            from projects.quality.shipped import load_network_weights

            load_network_weights(self.net, init_from, model["name"])
        self.val_metrics = QualityMetrics(defect_names, prefix="val/")
        self.test_metrics = QualityMetrics(defect_names, prefix="test/")

    @property
    def trainable(self) -> bool:
        return not isinstance(self.net, ClassicalIQA)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net(images)

    # ------------------------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict_batch(self, images: torch.Tensor) -> dict[str, torch.Tensor | None]:
        if isinstance(self.net, ClassicalIQA):
            return self.net(images)
        out = self.net(images)
        p_reject = torch.sigmoid(out["reject"].float())
        score = torch.sigmoid(out["score"].float()) if "score" in out else 1 - p_reject
        p_defects = torch.sigmoid(out["defects"].float()) if "defects" in out else None
        return {"p_reject": p_reject, "reject": p_reject > self.hparams.decision_threshold, "score": score,
                "p_defects": p_defects}

    # ------------------------------------------------------------------------------------- training
    def _loss(self, out: dict[str, torch.Tensor], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """A NaN target (a user's photo: defect not named, no reference score) adds nothing to its loss."""
        w = self.hparams.loss_weights
        losses = {"reject": F.binary_cross_entropy_with_logits(out["reject"], batch["label"].float())}
        if "defects" in out:
            losses["defects"] = w["defects"] * known_only(F.binary_cross_entropy_with_logits, out["defects"],
                                                          batch["defects"].float())
        if "score" in out:
            losses["score"] = w["score"] * known_only(F.mse_loss, torch.sigmoid(out["score"]), batch["score"].float())
        losses["loss"] = sum(losses.values())  # type: ignore[assignment]
        return losses

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        if not self.trainable:
            return None  # the classical model's fit is its calibration (on_fit_start): no step to take
        losses = self._loss(self(batch["image"]), batch)
        self.log_dict({f"train/{k}": v for k, v in losses.items()}, prog_bar=True, batch_size=len(batch["label"]))
        return losses["loss"]

    def _update(self, metrics: QualityMetrics, pred: dict, batch: dict[str, Any]) -> None:
        metrics.update(pred["reject"], pred["p_reject"], batch["label"], pred["score"], batch["score"],
                       pred["p_defects"], batch.get("defects"))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        if self.trainable:
            out = self(batch["image"])
            self.log("val/loss", self._loss(out, batch)["loss"], prog_bar=True, batch_size=len(batch["label"]))
        self._update(self.val_metrics, self.predict_batch(batch["image"]), batch)

    def on_validation_epoch_end(self) -> None:
        self.log_dict(_finite(self.val_metrics.compute()), prog_bar=False)
        self.val_metrics.reset()

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._update(self.test_metrics, self.predict_batch(batch["image"]), batch)

    def on_test_epoch_end(self) -> None:
        self.log_dict(_finite(self.test_metrics.compute()))
        self.log("test/params_m", count_parameters(self.net) / 1e6)
        self.test_metrics.reset()

    # ------------------------------------------------------------------------------------ classical
    def on_fit_start(self) -> None:
        """The classical model's fit: calibrate on the pristine photos of the train split (labels of
        defects are never used) unless a calibration was given (model.calibration, a resumed checkpoint),
        and save it next to the run for ``make audit``; the checkpoints keep it for ``make eval``."""
        if not isinstance(self.net, ClassicalIQA) or self.net.calibration is not None:
            return
        pristine: list[np.ndarray] = []
        for batch in self.trainer.datamodule.ordered_dataloader("train"):  # all of them, once, in order
            keep = batch["label"] == 0
            if keep.any():
                pristine += to_uint8(batch["image"][keep])
        self.net.fit_pristine(pristine)
        if self.trainer.is_global_zero and self.trainer.default_root_dir:
            path = self.net.save(Path(self.trainer.default_root_dir) / "classical_calibration.json",
                                 self.hparams.image_size)
            print(f"classical calibration ({len(pristine)} pristine train images) -> {path}")

    def on_test_start(self) -> None:
        """Testing never calibrates: an uncalibrated classical model stops here with what to do."""
        if isinstance(self.net, ClassicalIQA) and self.net.calibration is None:
            raise ConfigError("model=classical is not calibrated: calibrate it with `make train PROJECT=quality "
                              "ARGS=\"model=classical ...\"` (then CKPT=<run>/checkpoints/last.ckpt) or pass "
                              "model.calibration=<classical_calibration.json>")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        stamp(self, checkpoint)  # which project wrote it
        if isinstance(self.net, ClassicalIQA):
            checkpoint["classical_calibration"] = self.net.calibration
        if self.hparams.get("inference"):
            save_module_spec(self, checkpoint, self.defect_names, self.spec_extra())

    def spec_extra(self) -> dict[str, Any]:
        """The quality entries of the inference spec. The spec's ``size`` is one side; the working size
        may be (height, width), and photos are shrunk to it with area interpolation (``resize_area``)."""
        h, w = size_hw(self.hparams.image_size)
        return {"size_hw": [h, w], "interpolation": "area", "defects": list(self.defect_names),
                "decision_threshold": float(self.hparams.decision_threshold),
                "outputs": {"reject": "logit of p(reject); rejected when p_reject > decision_threshold",
                            "defects": "logits, one per defect name (multi-label; p > 0.5 names a reason)",
                            "score": "logit of the quality score in [0, 1] (1 = as good as pristine)"}}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if isinstance(self.net, ClassicalIQA):
            self.net.calibration = checkpoint.get("classical_calibration")

    def configure_optimizers(self) -> Any:
        """The common ``optim`` config (shared/optim.py); none for the classical model (no weights)."""
        if not self.trainable:
            return None
        if self.hparams.optim is None:
            raise ConfigError("QualityModule needs optim settings to train (module.optim: ${optim})")
        cfg = {"schedule": "cosine", **self.hparams.optim}  # the default before optim.schedule was common
        return configure(self.parameters(), cfg, self.trainer.estimated_stepping_batches)


def known_only(loss, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``loss`` (mean) over the finite targets; zero, still on the graph, when none is known."""
    known = torch.isfinite(target)
    if known.all():
        return loss(prediction, target)
    if not known.any():
        return prediction.sum() * 0.0
    return loss(prediction[known], target[known])


def spec_inference(inference: DictConfig | dict | None, image_size: int | list[int]) -> dict[str, Any] | None:
    """The ``inference`` hyper-parameter with ``size`` = the working size's longer side (the spec's one
    number; the (height, width) itself goes into the spec's ``extra.size_hw``)."""
    values = plain_dict(inference)
    return {**values, "size": max(size_hw(image_size))} if values else None


def size_hw(image_size: int | list[int] | tuple[int, int]) -> tuple[int, int]:
    """(height, width) of a working size given as one side or as (height, width)."""
    return (image_size, image_size) if isinstance(image_size, int) else (int(image_size[0]), int(image_size[1]))


def _finite(values: dict[str, float]) -> dict[str, float]:
    """Not-covered metrics (NaN) are left out of the logs instead of logged as NaN."""
    return {k: v for k, v in values.items() if not math.isnan(v)}
