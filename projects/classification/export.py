"""``make export PROJECT=classification CKPT=... [OUT=dir] [INPUT=photos/]``: ``model.onnx`` + ``model.json``.

The graph takes float32 RGB 0..255, NCHW, at the trained size (``model.json``: size, how to resize, the
class names), normalises inside and returns the logits (softmax gives the probabilities). The export is
checked against PyTorch with onnxruntime on up to 8 sample photos (``INPUT=`` a folder, else the test split
of the data config) and refused beyond 1e-4; ``make predict CKPT=<OUT>/model.onnx`` then writes the
same predictions as the checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from projects.classification.module import ClassificationModule
from shared.checkpoints import load_module
from shared.export import (
    export_photo_model,
    resize_for,
    sample_photos,
    with_preprocessing,
)
from shared.inference import apply_spec, read_spec
from shared.predict import require_checkpoint


def run(cfg: DictConfig) -> Path:
    import torch

    ckpt = require_checkpoint(cfg)
    spec = read_spec(ckpt)
    apply_spec(cfg, spec, ckpt)
    module = load_module(ClassificationModule, ckpt).eval()
    model = with_preprocessing(module.net, spec)
    photos, where = sample_photos(cfg)
    batch = torch.from_numpy(np.stack([resize_for(spec, image) for image in photos]))
    return export_photo_model(cfg, model, spec, batch,
                              {"logits": "one per class name, in order; softmax -> probabilities"}, str(ckpt), where)
