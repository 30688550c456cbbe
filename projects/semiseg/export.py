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
    META_FILE,
    MODEL_FILE,
    check_with_onnxruntime,
    export_folder,
    resize_for,
    sample_photos,
    to_onnx,
    with_preprocessing,
    write_model_json,
)
from shared.inference import apply_spec
from shared.predict import require_checkpoint


def run(cfg: DictConfig) -> Path:
    ckpt = require_checkpoint(cfg)
    net, spec = load_model(ckpt)
    apply_spec(cfg, spec, ckpt)
    model = with_preprocessing(net, spec)
    photos, source = sample_photos(cfg)
    batch = torch.from_numpy(np.stack([resize_for(spec, image) for image in photos]))
    folder = export_folder(cfg)
    to_onnx(model, (batch,), folder / MODEL_FILE, ["image"], ["logits"])
    diff = check_with_onnxruntime(folder / MODEL_FILE, model, (batch,), what=f"photos ({source})")
    write_model_json(folder / META_FILE, spec,
                     {"logits": "(N, classes, size, size), classes in the order of spec.names; cut the padding "
                                "(bottom/right), resize to the photo, argmax = class index"},
                     input_name="image", checked={"max_abs_diff": diff, "photos": len(photos), "source": source})
    print(f"exported {ckpt} -> {folder / MODEL_FILE}, {folder / META_FILE}")
    return folder
