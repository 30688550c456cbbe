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
from shared.datasets.io import list_images, read_image
from shared.datasets.registry import dataset_from_config
from shared.export import (
    META_FILE,
    MODEL_FILE,
    check_with_onnxruntime,
    export_folder,
    resize_for,
    to_onnx,
    with_preprocessing,
    write_model_json,
)
from shared.inference import apply_spec, read_spec
from shared.predict import require_checkpoint

SAMPLES = 8


def sample_photos(cfg: DictConfig, count: int = SAMPLES) -> tuple[list[np.ndarray], str]:
    """Up to ``count`` photos to check the export on, and where they came from."""
    if cfg.get("input"):
        return [read_image(p) for p in list_images(cfg.input)[:count]], str(cfg.input)
    data = dataset_from_config(cfg.data, "test")
    return [data[i]["image"] for i in range(min(count, len(data)))], f"{cfg.data.name} test split"


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
