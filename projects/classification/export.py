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
from shared.inference import apply_spec, read_spec
from shared.predict import require_checkpoint


def run(cfg: DictConfig) -> Path:
    import torch

    ckpt = require_checkpoint(cfg)
    spec = read_spec(ckpt)
    apply_spec(cfg, spec, ckpt)
    module = load_module(ClassificationModule, ckpt).eval()
    model = with_preprocessing(module.net, spec)
    photos, source = sample_photos(cfg)
    batch = torch.from_numpy(np.stack([resize_for(spec, image) for image in photos]))
    folder = export_folder(cfg)
    to_onnx(model, (batch,), folder / MODEL_FILE, ["image"], ["logits"])
    diff = check_with_onnxruntime(folder / MODEL_FILE, model, (batch,), what=f"photos ({source})")
    write_model_json(folder / META_FILE, spec, {"logits": "one per class name, in order; softmax -> probabilities"},
                     input_name="image", checked={"max_abs_diff": diff, "photos": len(photos), "source": source})
    print(f"exported {ckpt} -> {folder / MODEL_FILE}, {folder / META_FILE}")
    return folder
