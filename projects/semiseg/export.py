"""``make export PROJECT=semiseg CKPT=... [OUT=dir] [INPUT=photos/]``: ``model.onnx`` + ``model.json``.

The graph is the model ``make predict`` runs (the EMA teacher when the checkpoint has one) behind the
normalisation: float32 RGB 0..255, NCHW, ``size x size`` (the photo's long side resized to ``size``, zero
padding at the bottom/right: ``model.json`` says so), batch dynamic; it returns the logits (N, classes, size,
size). It is checked against PyTorch with onnxruntime on up to 8 sample photos (``INPUT=`` a folder, else the
test split of the data config) and refused beyond 1e-4. ``make predict CKPT=<OUT>/model.onnx INPUT=...`` runs
it through the same :class:`projects.semiseg.api.Predictor` as a checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from projects.semiseg.api import load_model
from shared.export import (
    export_photo_model,
    resize_for,
    sample_photos,
    with_preprocessing,
)
from shared.inference import apply_spec
from shared.predict import require_checkpoint


def run(cfg: DictConfig) -> Path:
    ckpt = require_checkpoint(cfg)
    net, spec = load_model(ckpt)
    apply_spec(cfg, spec, ckpt)
    model = with_preprocessing(net, spec)
    photos, where = sample_photos(cfg)
    batch = torch.from_numpy(np.stack([resize_for(spec, image) for image in photos]))
    meaning = ("(N, classes, size, size), classes in the order of spec.names; cut the padding (bottom/right), "
               "resize to the photo, argmax = class index")
    return export_photo_model(cfg, model, spec, batch, {"logits": meaning}, str(ckpt), where)
