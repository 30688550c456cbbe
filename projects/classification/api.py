"""The classifier as a Python object: ``Predictor.from_checkpoint(path)`` or ``.from_onnx(path)`` (or
``shared.api.load(path)``), then ``predict([path, pil_image, array])`` -> one dict per image::

    {"label": "sneaker", "score": 0.91, "top": [("sneaker", 0.91), ("boot", 0.05), ("sandal", 0.02)]}

Both back-ends take what :func:`shared.export.resize_for` makes of a photo (the eval resize, RGB 0..255)
and normalise inside the model (:func:`shared.export.with_preprocessing`, the same numbers as the ONNX
graph), with the size, normalisation and class names of the checkpoint's spec; ``make predict`` runs
this class, so the CLI and the API give the same numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shared.api import Input, as_rgb
from shared.errors import CheckpointError
from shared.export import OnnxModel, resize_for, with_preprocessing
from shared.inference import InferenceSpec

TOP_K = 3


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Predictor:
    """``run`` maps a float32 NCHW batch (RGB 0..255 at ``spec.size``) to logits (N, classes)."""

    def __init__(self, spec: InferenceSpec, run: Callable[[np.ndarray], np.ndarray], source: str,
                 top_k: int = TOP_K) -> None:
        self.spec, self.run, self.source = spec, run, source
        self.top_k = min(top_k, len(spec.names))

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **kwargs: Any) -> Predictor:
        import torch

        from projects.classification.module import ClassificationModule
        from shared.checkpoints import load_module
        from shared.inference import read_spec

        spec = read_spec(path)
        module = load_module(ClassificationModule, path).eval()
        heads = module.hparams.num_classes
        if heads != len(spec.names):
            raise CheckpointError(f"{path}: its head has {heads} outputs but its spec names {len(spec.names)} "
                                  "classes; re-train it with this code (make train)")
        model = with_preprocessing(module, spec)

        def run(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return model(torch.from_numpy(batch)).float().numpy()

        return cls(spec, run, str(path), **kwargs)

    @classmethod
    def from_onnx(cls, path: str | os.PathLike, **kwargs: Any) -> Predictor:
        onnx = OnnxModel(path)
        return cls(onnx.spec, lambda batch: onnx.run(batch)[0], str(path), **kwargs)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """One RGB uint8 photo as the model takes it (float32 CHW, 0..255, at the trained size)."""
        return resize_for(self.spec, image)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) of a prepared batch."""
        return softmax(self.run(np.ascontiguousarray(batch, dtype=np.float32)))

    def results(self, probs: np.ndarray) -> list[dict[str, Any]]:
        out = []
        for row in probs:
            top = np.argsort(-row, kind="stable")[: self.top_k]
            ranked = [(self.spec.names[k], float(row[k])) for k in top]
            out.append({"label": ranked[0][0], "score": ranked[0][1], "top": ranked})
        return out

    def predict(self, inputs: Sequence[Input] | Input, batch_size: int = 32) -> list[dict[str, Any]]:
        """Label, its probability and the top classes for each input (a path, a PIL image or an HxWx3 array)."""
        items = [inputs] if isinstance(inputs, (str, Path)) or not isinstance(inputs, Sequence) else list(inputs)
        out: list[dict[str, Any]] = []
        for start in range(0, len(items), batch_size):
            batch = np.stack([self.prepare(as_rgb(x)) for x in items[start:start + batch_size]])
            out += self.results(self.probabilities(batch))
        return out
