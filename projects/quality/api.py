"""The quality model as a Python object: ``Predictor.from_checkpoint(path)``, ``.from_onnx(path)``,
``.default()`` (the shipped model, ``projects/quality/default_model/``) or ``.classical(calibration)``
(or ``shared.api.load(path)``), then ``predict([path, pil_image, array])`` -> one dict per image::

    {"verdict": "reject", "score": 0.41, "p_reject": 0.97, "reasons": [("blur", 0.88), ("noise", 0.61)]}

``score`` is the quality score in [0, 1] (1 = as good as a pristine photo), ``verdict`` is ``reject`` when
``p_reject`` exceeds the model's decision threshold, ``reasons`` the defects with probability >= 0.5,
most likely first (at most three). Every back-end takes what :meth:`Predictor.prepare` makes of a photo
(shrunk to the working size with area interpolation, as the benchmark was built; RGB 0..255) and
normalises inside the model, as the exported ONNX graph does; ``make audit`` runs this class, so the API
gives the audit's numbers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from projects.quality.datasets import resize_area
from projects.quality.shipped import DEFAULT_MODEL, WEIGHTS_FILE, load_default_net
from shared.api import Input, as_rgb
from shared.errors import CheckpointError
from shared.export import OnnxModel, with_preprocessing
from shared.inference import InferenceSpec

OUTPUTS = ("reject", "defects", "score")

Outputs = dict[str, np.ndarray]   # p_reject (N,), score (N,), p_defects (N, D) or absent, reject (N,) bool


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def from_logits(logits: dict[str, np.ndarray], threshold: float) -> Outputs:
    """The heads' logits as probabilities and the decision (the same arithmetic for every back-end)."""
    p_reject = sigmoid(logits["reject"])
    out = {"p_reject": p_reject, "reject": p_reject > threshold,
           "score": sigmoid(logits["score"]) if "score" in logits else 1.0 - p_reject}
    if "defects" in logits:
        out["p_defects"] = sigmoid(logits["defects"])
    return out


def torch_logits(net: Any, spec: InferenceSpec) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """A trained network behind the spec's normalisation, mapping a prepared batch to its heads' logits."""
    import torch

    model = with_preprocessing(net, spec)

    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            return {k: v.float().numpy() for k, v in model(torch.from_numpy(batch)).items()}

    return run


def module_spec(module: Any) -> InferenceSpec:
    """The spec a quality module writes into its checkpoints (for a module that has not been saved)."""
    from shared.inference import spec_from_hparams

    inference = module.hparams.get("inference") or {"size": max(module.spec_extra()["size_hw"])}
    return spec_from_hparams("quality", module.defect_names, inference, module.hparams.model, module.spec_extra())


class Predictor:
    """``run`` maps a prepared float32 NCHW batch to :data:`Outputs`; ``size_hw`` is the working size."""

    def __init__(self, spec: InferenceSpec, run: Callable[[np.ndarray], Outputs], source: str,
                 defect_threshold: float = 0.5, top_defects: int = 3) -> None:
        self.spec, self.run, self.source = spec, run, source
        self.size_hw = tuple(spec.extra.get("size_hw") or (spec.size, spec.size))
        self.defect_names = list(spec.extra.get("defects") or spec.names)
        self.threshold = float(spec.extra.get("decision_threshold", 0.5))
        self.defect_threshold, self.top_defects = defect_threshold, top_defects

    # ------------------------------------------------------------------------------------ back-ends
    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, **kwargs: Any) -> Predictor:
        from projects.quality.module import QualityModule
        from shared.checkpoints import load_module
        from shared.inference import read_spec

        spec = read_spec(path)
        return cls.from_module(load_module(QualityModule, path), spec, str(path), **kwargs)

    @classmethod
    def from_module(cls, module: Any, spec: InferenceSpec | None = None, source: str = "", **kwargs: Any) -> Predictor:
        """A :class:`~projects.quality.module.QualityModule` in memory (``spec``: the one its checkpoint
        carries; without one, the spec it would write)."""
        module = module.eval()
        spec = spec or module_spec(module)
        if module.kind == "classical":
            return cls.classical_module(module, spec, source, **kwargs)
        logits = torch_logits(module.net, spec)
        threshold = float(spec.extra.get("decision_threshold", 0.5))
        return cls(spec, lambda batch: from_logits(logits(batch), threshold), source, **kwargs)

    @classmethod
    def from_onnx(cls, path: str | os.PathLike, **kwargs: Any) -> Predictor:
        onnx = OnnxModel(path)
        spec = onnx.spec
        threshold = float(spec.extra.get("decision_threshold", 0.5))

        def run(batch: np.ndarray) -> Outputs:
            return from_logits(dict(zip(onnx.output_names, onnx.run(batch))), threshold)

        return cls(spec, run, str(path), **kwargs)

    @classmethod
    def default(cls, folder: str | os.PathLike = DEFAULT_MODEL, **kwargs: Any) -> Predictor:
        """The shipped model: fp16 weights (safetensors) and the spec written beside them."""
        net, spec = load_default_net(Path(folder))
        logits = torch_logits(net, spec)
        threshold = float(spec.extra["decision_threshold"])
        return cls(spec, lambda batch: from_logits(logits(batch), threshold), str(Path(folder) / WEIGHTS_FILE),
                   **kwargs)

    @classmethod
    def classical(cls, calibration: str | os.PathLike, z_threshold: float = 3.0,
                  image_size: int | Sequence[int] | None = None, **kwargs: Any) -> Predictor:
        """The no-weights model from a ``classical_calibration.json`` (at the size it was measured at)."""
        from projects.quality.module import QualityModule

        path = Path(calibration)
        saved = json.loads(path.read_text()) if path.is_file() else {}
        z = saved.get("z_threshold", z_threshold)
        size = saved.get("image_size") or image_size
        if size is None:
            raise CheckpointError(f"{path} does not say the size it was calibrated at: pass image_size")
        model = {"name": "classical", "kind": "classical", "z_threshold": z, "calibration": str(path)}
        module = QualityModule(model, list(size) if not isinstance(size, int) else size)
        return cls.from_module(module, source=f"classical ({path.name})", **kwargs)

    @classmethod
    def classical_module(cls, module: Any, spec: InferenceSpec, source: str, **kwargs: Any) -> Predictor:
        def run(batch: np.ndarray) -> Outputs:
            images = list(np.clip(np.rint(batch), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1))
            out = module.net.predict_images(images)
            return {"p_reject": out["p_reject"].numpy().astype(np.float64), "reject": out["reject"].numpy(),
                    "score": out["score"].numpy().astype(np.float64), "p_defects": out["p_defects"].numpy()}

        return cls(spec, run, source, **kwargs)

    # ------------------------------------------------------------------------------------- predicting
    def prepare(self, image: np.ndarray) -> np.ndarray:
        """One RGB uint8 photo as the model takes it: float32 CHW 0..255, area-shrunk to the working size."""
        return np.ascontiguousarray(resize_area(image, self.size_hw).transpose(2, 0, 1), dtype=np.float32)

    def outputs(self, batch: np.ndarray) -> Outputs:
        return self.run(np.ascontiguousarray(batch, dtype=np.float32))

    def results(self, out: Outputs) -> list[dict[str, Any]]:
        rows = []
        for k in range(len(out["p_reject"])):
            reasons: list[tuple[str, float]] = []
            if "p_defects" in out:
                probs = [(n, float(p)) for n, p in zip(self.defect_names, out["p_defects"][k]) if p == p]
                reasons = [(n, p) for n, p in sorted(probs, key=lambda t: -t[1]) if p >= self.defect_threshold]
            rows.append({"verdict": "reject" if bool(out["reject"][k]) else "accept",
                         "score": float(out["score"][k]), "p_reject": float(out["p_reject"][k]),
                         "reasons": reasons[: self.top_defects]})
        return rows

    def predict(self, inputs: Sequence[Input] | Input, batch_size: int = 32) -> list[dict[str, Any]]:
        """Verdict, score and reasons for each input (a path, a PIL image or an HxWx3 array)."""
        items = [inputs] if isinstance(inputs, (str, Path)) or not isinstance(inputs, Sequence) else list(inputs)
        out: list[dict[str, Any]] = []
        for start in range(0, len(items), batch_size):
            batch = np.stack([self.prepare(as_rgb(x)) for x in items[start:start + batch_size]])
            out += self.results(self.outputs(batch))
        return out

    @property
    def has_reasons(self) -> bool:
        return self.spec.model.get("kind") != "seed_cnn"
