"""``create_model(cfg, image_size, defect_names)``: the three model families by ``model.kind``."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from projects.quality.models.classical import ClassicalIQA
from projects.quality.models.seed_cnn import SeedCNN
from projects.quality.models.timm_iqa import TimmIQA
from shared.errors import ConfigError

KINDS = ("seed_cnn", "timm_iqa", "classical")


def create_model(cfg: dict, image_size: int | Sequence[int], defect_names: Sequence[str]) -> nn.Module:
    kind = cfg.get("kind")
    if kind == "seed_cnn":
        return SeedCNN(image_size, widths=cfg.get("widths", (32, 64, 128)), hidden=cfg.get("hidden", 128),
                       dropout=cfg.get("dropout", 0.5))
    if kind == "timm_iqa":
        return TimmIQA(cfg["arch"], len(defect_names), cfg.get("pretrained"), dropout=cfg.get("dropout", 0.2),
                       pretrained_partial=bool(cfg.get("pretrained_partial", False)))
    if kind == "classical":
        return ClassicalIQA(list(defect_names), cfg.get("z_threshold", 3.0), cfg.get("calibration"))
    raise ConfigError(f"unknown quality model kind {kind!r}; expected one of {KINDS}")


__all__ = ["KINDS", "ClassicalIQA", "SeedCNN", "TimmIQA", "create_model"]
