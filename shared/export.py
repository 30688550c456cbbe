"""ONNX export shared by every project (``make export PROJECT=<p> CKPT=... [OUT=dir]``).

An exported model takes float32 RGB in 0..255, NCHW, at the size it was trained at (``model.json`` says how
to resize a photo to it) and normalises inside the graph, so a deployment needs no numbers from elsewhere.
:func:`to_onnx` uses torch's TorchScript-based exporter (``dynamo=False``): it keeps the batch dimension
dynamic, which the dynamo exporter fixed at 1 for these models. :func:`check_with_onnxruntime` runs both
on the same inputs and refuses an export whose outputs differ by more than ``tol``. :class:`OnnxModel` is
the runtime side (onnxruntime, no PyTorch needed to run it).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import CheckpointError, ConfigError
from shared.inference import InferenceSpec

OPSET = 17
MODEL_FILE, META_FILE = "model.onnx", "model.json"
TOLERANCE = 1e-4   # fp32: ONNX Runtime and PyTorch differ by float rounding only


def _nn():
    import torch
    from torch import nn

    return torch, nn


def with_preprocessing(net: Any, spec: InferenceSpec) -> Any:
    """``net`` behind ``(x / 255 - mean) / std``: the input is float32 RGB 0..255 NCHW (extra inputs pass
    through to ``net`` unchanged)."""
    torch, nn = _nn()

    class WithPreprocessing(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
            self.register_buffer("inv_std", 1.0 / (torch.tensor(spec.std, dtype=torch.float32).view(1, 3, 1, 1)
                                                   * 255.0))

        def forward(self, image: Any, *rest: Any) -> Any:
            return self.net((image - self.mean) * self.inv_std, *rest)

    return WithPreprocessing().eval()


def to_onnx(model: Any, example_inputs: tuple, path: str | os.PathLike, input_names: Sequence[str],
            output_names: Sequence[str]) -> Path:
    """Write ``model`` (already wrapped by :func:`with_preprocessing`) to ``path``, batch dynamic on every
    input and output; written under a temporary name and renamed, so no half file keeps the name."""
    torch, _ = _nn()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    axes = {name: {0: "batch"} for name in [*input_names, *output_names]}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        torch.onnx.export(model.eval(), example_inputs, str(tmp), input_names=list(input_names),
                          output_names=list(output_names), dynamic_axes=axes, opset_version=OPSET,
                          dynamo=False)
    os.replace(tmp, path)
    return path


def check_with_onnxruntime(path: str | os.PathLike, model: Any, inputs: tuple, tol: float = TOLERANCE,
                           what: str = "photos") -> float:
    """Run ``model`` (PyTorch) and the ONNX file on ``inputs``; print and return the max absolute
    difference over all outputs; ConfigError when it exceeds ``tol`` times the outputs' scale (the largest
    absolute PyTorch output, at least 1): fp32 rounding grows with the values, and a classifier's logits
    reach +-40, where 1e-4 absolute is a few units in the last place."""
    torch, _ = _nn()
    with torch.no_grad():
        expected = model.eval()(*inputs)
    expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    got = OnnxModel.session_only(path).run(*[t.detach().cpu().numpy() for t in inputs])
    diff = max(float(np.max(np.abs(e.detach().cpu().numpy() - g))) if e.numel() else 0.0
               for e, g in zip(expected, got))
    scale = max([1.0, *(float(e.detach().abs().max()) for e in expected if e.numel())])
    batch = len(inputs[0])
    print(f"onnxruntime vs PyTorch on {batch} {what}: max |difference| = {diff:.2e} (outputs up to {scale:.3g}; "
          f"tolerance {tol:.0e} x {scale:.3g})")
    if not diff <= tol * scale:
        raise ConfigError(f"{path}: onnxruntime differs from PyTorch by {diff:.2e} (> {tol:.0e} x {scale:.3g}); "
                          "not exported")
    return diff


def write_model_json(path: str | os.PathLike, spec: InferenceSpec, outputs: dict[str, str], **fields: Any) -> Path:
    """``model.json``: the spec (names, size, resize, mean, std ...), what each output means, and
    ``fields`` (input names, thresholds, files of other parts)."""
    from shared.files import write_atomic

    meta = {"format": "ecomvision-onnx", "spec": spec.to_dict(),
            "input": {"layout": "NCHW", "dtype": "float32", "range": "RGB 0..255",
                      "size": spec.size, "resize": spec.resize, "normalisation": "inside the graph"},
            "outputs": outputs, **fields}
    path = Path(path)
    text = json.dumps(meta, indent=2, default=_plain) + "\n"
    write_atomic(path, lambda f: f.write(text))
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def resize_for(spec: InferenceSpec, image: np.ndarray) -> np.ndarray:
    """A photo (HxWx3 uint8 RGB) as the exported model takes it: float32 CHW 0..255 at the spec's size,
    resized exactly as the eval pipelines resize (the same albumentations ops, without Normalize)."""
    import albumentations as A
    import cv2

    if spec.resize == "stretch":
        ops = [A.Resize(height=spec.size, width=spec.size)]
    else:
        ops = [A.LongestMaxSize(max_size=spec.size),
               A.PadIfNeeded(min_height=spec.size, min_width=spec.size, position="top_left",
                             border_mode=cv2.BORDER_CONSTANT, fill=0)]
    out = A.Compose(ops)(image=image)["image"]
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)


class OnnxModel:
    """An exported model: ``model.onnx`` and the ``model.json`` beside it (``.meta``, ``.spec``)."""

    def __init__(self, path: str | os.PathLike, meta: dict[str, Any] | None = None, fuse: bool = True) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"ONNX model not found: {self.path}")
        self.meta = meta if meta is not None else read_model_json(self.path)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if not fuse:  # the graph's own arithmetic: fused kernels round differently (1e-4 on logits of +-40)
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail / InvalidGraph types
            raise CheckpointError(f"cannot load ONNX model {self.path}: {str(exc).splitlines()[0][:160]}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    @classmethod
    def session_only(cls, path: str | os.PathLike) -> OnnxModel:
        """The session without model.json, unfused (the export check, before model.json is written: it
        checks the exported graph against PyTorch, not onnxruntime's kernel fusions)."""
        return cls(path, meta={}, fuse=False)

    @property
    def spec(self) -> InferenceSpec:
        return InferenceSpec.from_dict(self.meta["spec"], str(self.path))

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        feed = dict(zip(self.input_names, arrays))
        return list(self.session.run(self.output_names, feed))


def read_model_json(onnx_path: str | os.PathLike) -> dict[str, Any]:
    """The ``model.json`` beside an exported ``model.onnx`` (one line when missing or damaged)."""
    meta_path = Path(onnx_path).with_name(META_FILE)
    if not meta_path.is_file():
        raise CheckpointError(f"{meta_path} not found: an exported model is model.onnx plus the model.json beside "
                              "it (make export writes both)")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {meta_path}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != "ecomvision-onnx" or "spec" not in meta:
        raise CheckpointError(f"{meta_path} is not an ecomvision export description (make export writes it)")
    return meta


def export_folder(cfg: Any) -> Path:
    """``OUT=`` or ``<run dir>/export``: where ``make export`` writes model.onnx and model.json."""
    out = cfg.get("output")
    folder = Path(out) if out else Path(cfg.paths.output_dir) / "export"
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"OUT={folder} is a file; make export writes a folder (model.onnx, model.json)")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def export_photo_model(cfg: Any, model: Any, spec: InferenceSpec, batch: Any, outputs: dict[str, str],
                       source: str, where: str) -> Path:
    """What every one-photo-input export does once its network is wrapped (:func:`with_preprocessing`) and
    its sample ``batch`` prepared: model.onnx (input ``image``, the ``outputs`` in order), the onnxruntime
    check on that batch, model.json (``outputs``: name -> meaning). ``source``: what was exported;
    ``where``: where the sample photos came from."""
    folder = export_folder(cfg)
    to_onnx(model, (batch,), folder / MODEL_FILE, ["image"], list(outputs))
    diff = check_with_onnxruntime(folder / MODEL_FILE, model, (batch,), what=f"photos ({where})")
    write_model_json(folder / META_FILE, spec, outputs, input_name="image",
                     checked={"max_abs_diff": diff, "photos": len(batch), "source": where})
    print(f"exported {source} -> {folder / MODEL_FILE}, {folder / META_FILE}")
    return folder


def sample_photos(cfg: Any, count: int = 8) -> tuple[list[np.ndarray], str]:
    """Up to ``count`` photos to check an export on (``INPUT=`` a folder of yours, else the test split of the
    configured data), and where they came from."""
    from shared.datasets.io import list_images, read_image
    from shared.datasets.registry import dataset_from_config

    if cfg.get("input"):
        return [read_image(p) for p in list_images(cfg.input)[:count]], str(cfg.input)
    data = dataset_from_config(cfg.data, "test")
    return [data[i]["image"] for i in range(min(count, len(data)))], f"{cfg.data.name} test split"


def is_onnx(path: str | os.PathLike | None) -> bool:
    return path is not None and str(path).lower().endswith(".onnx")
