"""``make export PROJECT=quality [CKPT=...] [OUT=dir] [INPUT=photos/]``: ``model.onnx`` + ``model.json``.

The graph takes float32 RGB 0..255, NCHW, at the working size (``model.json``: ``extra.size_hw``, photos
shrunk with area interpolation; the defect names; the decision threshold), normalises inside and returns
the heads' logits: ``reject`` (N), ``defects`` (N, defects) and ``score`` (N) (``seed_cnn``: ``reject``
only). Without ``CKPT`` the shipped default model is exported. The export is checked against PyTorch with
onnxruntime on up to 8 sample photos (``INPUT=`` a folder, else the test split of the data config) and
refused beyond 1e-4; ``make audit CKPT=<OUT>/model.onnx`` then gives the checkpoint's audit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from projects.quality.api import OUTPUTS, Predictor
from shared.errors import ConfigError
from shared.export import (
    export_photo_model,
    sample_photos,
    with_preprocessing,
)
from shared.inference import InferenceSpec

MEANING = {"reject": "logit of p(reject); rejected when sigmoid > extra.decision_threshold",
           "defects": "logits, one per defect name (extra.defects); sigmoid >= 0.5 names a reason",
           "score": "logit of the quality score; sigmoid in [0, 1], 1 = as good as pristine"}


def heads_as_tuple(net: Any, heads: list[str]) -> Any:
    """The network with its dict of heads returned as a tuple in ``heads`` order (ONNX outputs are positional)."""
    from torch import nn

    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: Any) -> tuple:
            out = self.net(x)
            return tuple(out[k] for k in heads)

    return Heads().eval()


def network(cfg: DictConfig) -> tuple[Any, InferenceSpec, str]:
    """The network to export, its spec and where it came from (``CKPT`` or the shipped default model)."""
    from projects.quality.module import QualityModule
    from projects.quality.shipped import load_default_net
    from shared.checkpoints import load_module
    from shared.inference import apply_spec, read_spec
    from shared.predict import require_checkpoint

    if not cfg.get("ckpt_path"):
        net, spec = load_default_net()
        return net, spec, "the default model"
    ckpt = require_checkpoint(cfg)
    spec = read_spec(ckpt)
    apply_spec(cfg, spec, ckpt)
    module = load_module(QualityModule, ckpt).eval()
    if module.kind == "classical":
        raise ConfigError(f"{ckpt} is the classical model: it has no network to export (its measures are numpy/OpenCV)")
    return module.net, spec, str(ckpt)


def run(cfg: DictConfig) -> Path:
    import torch

    net, spec, source = network(cfg)
    photos, where = sample_photos(cfg)
    predictor = Predictor(spec, lambda batch: {}, source)   # its prepare(): the audit's area resize
    batch = torch.from_numpy(np.stack([predictor.prepare(image) for image in photos]))
    with torch.no_grad():
        heads = [k for k in OUTPUTS if k in net.eval()(batch[:1] / 255.0)]
    model = with_preprocessing(heads_as_tuple(net, heads), spec)
    return export_photo_model(cfg, model, spec, batch, {k: MEANING[k] for k in heads}, source, where)
