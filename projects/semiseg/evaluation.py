"""Student and teacher segmentation metrics (torchmetrics, dataset-level, synced across DDP ranks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

from shared.metrics import confusion_matrix, segmentation_metrics
from shared.plots import plot_confusion_matrix

STAGES, MODELS = ("val", "test"), ("student", "teacher")


class SegEvaluator(nn.Module):
    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        super().__init__()
        self.metrics = nn.ModuleDict({f"{s}_{m}": segmentation_metrics(num_classes, ignore_index)
                                      for s in STAGES for m in MODELS})
        self.confusion = nn.ModuleDict({m: confusion_matrix(num_classes, ignore_index) for m in MODELS})
        self.updated: set[str] = set()

    @torch.no_grad()
    def update(self, stage: str, models: dict[str, nn.Module], images: torch.Tensor, masks: torch.Tensor) -> None:
        for name, model in models.items():
            preds = model(images).argmax(dim=1)
            self.metrics[f"{stage}_{name}"].update(preds, masks)
            if stage == "test":
                self.confusion[name].update(preds, masks)
            self.updated.add(f"{stage}_{name}")

    def compute(self, stage: str, class_names: list[str]) -> dict[str, torch.Tensor]:
        """``<stage>/<model>/{miou,dice,iou/<class>}`` and ``<stage>/miou`` (teacher if present)."""
        out: dict[str, torch.Tensor] = {}
        for name in MODELS:
            key = f"{stage}_{name}"
            if key not in self.updated:
                continue
            values = self.metrics[key].compute()
            out[f"{stage}/{name}/miou"] = values["miou"]
            out[f"{stage}/{name}/dice"] = values["dice"]
            for cls, iou in zip(class_names, values["iou_per_class"]):
                out[f"{stage}/{name}/iou/{cls}"] = iou
            self.metrics[key].reset()
            self.updated.discard(key)
        headline = out.get(f"{stage}/teacher/miou", out.get(f"{stage}/student/miou"))
        if headline is not None:
            out[f"{stage}/miou"] = headline
        return out

    def save_confusion(self, stage: str, trainer: pl.Trainer, class_names: list[str]) -> None:
        """Write the dataset-level confusion matrices (JSON + PNG) into the run folder."""
        for name in MODELS:
            metric = self.confusion[name]
            if not metric.update_count:
                continue
            matrix = metric.compute().cpu().numpy()
            metric.reset()
            if trainer.is_global_zero and trainer.default_root_dir:
                root = Path(trainer.default_root_dir)
                root.mkdir(parents=True, exist_ok=True)
                (root / f"confusion_{stage}_{name}.json").write_text(
                    json.dumps({"classes": class_names, "matrix": matrix.tolist()}) + "\n")
                plot_confusion_matrix(matrix, class_names, root / f"confusion_{stage}_{name}.png")
