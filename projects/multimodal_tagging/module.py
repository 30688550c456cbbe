"""The tagging LightningModule: weighted BCE over precise + weak labels, multi-label F1 evaluation.

The per-item training targets live in the module (``train_targets`` / ``train_weights``, indexed by
the batch's ``index``) and are rewritten by :class:`WeakLabelRefresh` between stages, so data
loaders never hold stale labels. The tag schema and text settings are saved with the checkpoint.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torchmetrics.classification import MultilabelF1Score

from projects.multimodal_tagging.models import MultimodalTagger
from projects.multimodal_tagging.schema import TagSchema, schema_for
from shared.checkpoints import stamp
from shared.config import plain_dict
from shared.errors import ConfigError
from shared.lightning_utils import channels_last, count_parameters, save_module_spec
from shared.metrics import multilabel_metrics
from shared.optim import build_optimizer


class TaggingModule(pl.LightningModule):
    def __init__(self, model: DictConfig | dict, optim: DictConfig | dict, dataset: str | None = None,
                 schema: dict | None = None, threshold: float = 0.5, image_size: int | None = None,
                 memory_format: str = "channels_last", inference: dict | None = None,
                 data: DictConfig | dict | None = None) -> None:
        """``schema``: given, or that of ``dataset`` (a user's CSV: read from ``data``, the data config);
        ``inference``: the project config's node written into every checkpoint (shared/inference.py)."""
        super().__init__()
        model, optim = dict(plain_dict(model)), dict(plain_dict(optim))
        schema = schema or schema_for(str(dataset), data).to_dict()
        self.save_hyperparameters({"model": model, "optim": optim, "schema": schema, "threshold": threshold,
                                   "image_size": image_size, "memory_format": memory_format,
                                   "inference": plain_dict(inference) or None})
        self.schema = TagSchema.from_dict(schema)
        self.tag_names = list(self.schema.tags)
        self.net = MultimodalTagger(
            num_tags=self.schema.num_tags, industry_dim=self.schema.industry_dim,
            text_dim=int(model["text"]["dim"]), image_arch=model["image"]["arch"],
            pretrained=model["image"].get("pretrained"),
            pretrained_partial=bool(model["image"].get("pretrained_partial", False)),
            dim=int(model["dim"]), heads=int(model["heads"]),
            dropout=float(model["dropout"]), fusion=model["fusion"], use_image=bool(model["use_image"]),
            use_text=bool(model["use_text"]), use_industry=bool(model["use_industry"]))
        self.channels_last = channels_last(self.net, memory_format)
        self.register_buffer("train_targets", torch.zeros(0, self.schema.num_tags), persistent=False)
        self.register_buffer("train_weights", torch.zeros(0, self.schema.num_tags), persistent=False)
        self.current_stage = 1
        self.val_metrics = multilabel_metrics(self.schema.num_tags, prefix="val/", threshold=threshold)
        self.test_metrics = multilabel_metrics(self.schema.num_tags, prefix="test/", threshold=threshold)
        self.test_per_tag = MultilabelF1Score(self.schema.num_tags, threshold=threshold, average="none")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        stamp(self, checkpoint)  # which project wrote it
        save_module_spec(self, checkpoint, self.tag_names, self.inference_extra())

    def inference_extra(self) -> dict[str, Any]:
        """What tagging a new product needs beyond the image spec: the decision threshold, the category
        levels (the industry one-hot) and the title encoder (tokenizer) settings."""
        text = self.hparams.model["text"]
        return {"threshold": float(self.hparams.threshold), "industries": list(self.schema.industry),
                "categories": list(self.schema.category), "output": "sigmoid probability per tag",
                "text": {"path": text.get("path"), "max_length": int(text["max_length"]),
                         "pooling": str(text["pooling"]), "dim": int(text["dim"]),
                         "dtype": "float16 token states (the cached training features)"}}

    # -- the model ---------------------------------------------------------------------------------
    def _inputs(self, batch: dict[str, Any]) -> tuple:
        images = batch["image"]
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, batch["text_tokens"], batch["text_mask"], batch["industry"]

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.net(*self._inputs(batch))

    def embed(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.net.embed(*self._inputs(batch))

    def set_train_targets(self, targets: torch.Tensor, weights: torch.Tensor) -> None:
        """Precise labels (weight 1) and weak labels (weight ``weak_weight``, 0 where unknown)."""
        self.train_targets = targets.to(self.device)
        self.train_weights = weights.to(self.device)

    # -- the steps ---------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        logits = self(batch)
        targets = self.train_targets[batch["index"]]
        weights = self.train_weights[batch["index"]]  # 1 precise, weak_weight weak, 0 unknown
        loss = F.binary_cross_entropy_with_logits(logits, targets, weight=weights, reduction="sum")
        loss = loss / weights.sum().clamp(min=1.0)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(logits))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self(batch)
        self.log("val/loss", F.binary_cross_entropy_with_logits(logits, batch["tags"]), batch_size=len(logits))
        self.val_metrics.update(logits.sigmoid(), batch["tags"].int())

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.val_metrics.compute(), prog_bar=True)
        self.val_metrics.reset()

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        probs = self(batch).sigmoid()
        self.test_metrics.update(probs, batch["tags"].int())
        self.test_per_tag.update(probs, batch["tags"].int())

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute())
        for name, f1 in zip(self.tag_names, self.test_per_tag.compute()):
            self.log(f"test/f1/{name}", f1)
        self.log("test/params_m", count_parameters(self.net) / 1e6)
        self.test_metrics.reset()
        self.test_per_tag.reset()

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self(batch).sigmoid()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """AdamW over the parameters trainable now; :class:`ProgressiveTraining` adds the rest per stage
        and sets the stage's learning rate (constant within a stage), so ``optim.schedule`` must be constant."""
        cfg = self.hparams.optim
        if cfg.get("schedule", "constant") != "constant" or cfg.get("warmup_steps", 0):
            raise ConfigError(f"multimodal_tagging's lr follows progressive.stages (constant within a stage): "
                              f"optim.schedule must be constant and optim.warmup_steps 0, got "
                              f"{cfg.get('schedule')!r} / {cfg.get('warmup_steps')}")
        return build_optimizer([p for p in self.parameters() if p.requires_grad], cfg)
