"""The classification LightningModule: cross-entropy training, accuracy / macro P/R/F1 evaluation,
a confusion matrix plotted at test time, and the class names stored in the checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from projects.classification.models import create_model
from projects.classification.models.factory import classifier
from shared.config import plain_dict
from shared.lightning_utils import ClassNamesMixin, channels_last, count_parameters
from shared.loggers import wandb_loggers
from shared.metrics import classification_metrics, confusion_matrix
from shared.optim import configure
from shared.plots import plot_confusion_matrix


class ClassificationModule(ClassNamesMixin, pl.LightningModule):
    def __init__(self, model: DictConfig | dict, num_classes: int, optim: DictConfig | dict,
                 label_smoothing: float = 0.1, memory_format: str = "channels_last",
                 inference: DictConfig | dict | None = None) -> None:
        """``inference``: the project config's ``inference`` node (size, resize, mean, std, data), written
        with the class names into every checkpoint (:mod:`shared.inference`)."""
        super().__init__()
        model, optim = plain_dict(model), plain_dict(optim)
        self.save_hyperparameters({"model": model, "num_classes": num_classes, "optim": optim,
                                   "label_smoothing": label_smoothing, "memory_format": memory_format,
                                   "inference": plain_dict(inference) or None})
        kwargs = {k: v for k, v in model.items()
                  if k not in ("name", "arch", "pretrained", "pretrained_partial", "freeze_backbone")}
        self.frozen = bool(model.get("freeze_backbone", False))
        self.net = create_model(model["arch"], num_classes, model.get("pretrained"),
                                bool(model.get("pretrained_partial", False)), self.frozen, **kwargs)
        self.channels_last = channels_last(self.net, memory_format)
        self.class_names: list[str] = [str(i) for i in range(num_classes)]
        self.val_metrics = classification_metrics(num_classes, prefix="val/")
        self.test_metrics = classification_metrics(num_classes, prefix="test/")
        self.test_confusion = confusion_matrix(num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.net(images)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """A linear probe (``model.freeze_backbone``) keeps the frozen network, BatchNorm statistics included,
        in eval mode. Checked every batch: Lightning restores the modules' flags after each validation
        by setting them directly, not through ``train()``."""
        if self.frozen:
            self.net.eval()
            classifier(self.net).train()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        logits = self(batch["image"])
        loss = F.cross_entropy(logits, batch["label"], label_smoothing=self.hparams.label_smoothing)
        acc = (logits.argmax(1) == batch["label"]).float().mean()
        self.log_dict({"train/loss": loss, "train/acc": acc}, prog_bar=True, batch_size=len(logits))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self(batch["image"])
        self.log("val/loss", F.cross_entropy(logits, batch["label"]), batch_size=len(logits))
        self.val_metrics.update(logits, batch["label"])

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.val_metrics.compute(), prog_bar=True)
        self.val_metrics.reset()

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self(batch["image"])
        self.test_metrics.update(logits, batch["label"])
        self.test_confusion.update(logits, batch["label"])

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute())
        self.log("test/params_m", count_parameters(self.net) / 1e6)
        matrix = self.test_confusion.compute().cpu().numpy()
        self.test_metrics.reset()
        self.test_confusion.reset()
        if self.trainer.is_global_zero and self.trainer.default_root_dir:
            path = plot_confusion_matrix(matrix, self.class_names,
                                         Path(self.trainer.default_root_dir) / "confusion_matrix.png")
            for logger in wandb_loggers(self.trainer):
                logger.log_image("test/confusion_matrix", [str(path)])

    def inference_extra(self) -> dict[str, Any]:
        return {"output": "logits over names; softmax gives the class probabilities"}

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self(batch["image"]).softmax(dim=1)

    def configure_optimizers(self) -> Any:
        """The common ``optim`` config (shared/optim.py): AdamW, warm-up + cosine per step."""
        cfg = {"schedule": "cosine", **self.hparams.optim}  # checkpoints from before optim.schedule: cosine
        trainable = [p for p in self.parameters() if p.requires_grad]
        return configure(trainable, cfg, self.trainer.estimated_stepping_batches)
