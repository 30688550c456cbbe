"""The semiseg Python API: ``Predictor.from_checkpoint(path)`` / ``Predictor.from_onnx(path)`` and
``predict([path | PIL image | HxWx3 uint8 array, ...]) -> [{"mask": HxW uint8 class indices, "classes": [...]}]``.

``make predict`` runs the same Predictor, so the API gives the CLI's masks. A checkpoint runs the model
``make eval`` scores (the EMA teacher when there is one) on exactly the test split's view of the photo
(``transforms.eval_view`` with the checkpoint's size, resize and normalisation); an exported model gets the
same resize (:func:`shared.export.resize_for`) and normalises inside its graph. Either way the padding is cut
from the logits and they are resized bilinearly back to the photo's size before the argmax.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from shared.inference import InferenceSpec

Logits = Callable[[np.ndarray], torch.Tensor]   # a photo (HxWx3 uint8) -> logits (1, C, size, size)


def load_model(ckpt: str | Path) -> tuple[nn.Module, InferenceSpec]:
    """The network to run (the EMA teacher when the checkpoint has one, else the student) and the spec.

    The module is rebuilt from its own model config: the encoder's input adapter comes back and the strict
    load checks its numbers; no pretrained file is read again."""
    from projects.semiseg.module import SemiSegModule
    from shared.checkpoints import check_checkpoint, load_module
    from shared.inference import spec_of

    state = check_checkpoint(ckpt, SemiSegModule)
    spec = spec_of(state, ckpt)
    module = load_module(SemiSegModule, ckpt).eval()
    teacher_state = next((v["teacher"] for k, v in state.get("callbacks", {}).items()
                          if k.startswith("EMATeacher") and v.get("teacher")), None)
    if teacher_state is None:
        return module.net, spec
    teacher = copy.deepcopy(module.net)
    teacher.load_state_dict(teacher_state)
    return teacher.eval(), spec


def mask_from_logits(logits: torch.Tensor, spec: InferenceSpec, height: int, width: int) -> np.ndarray:
    """Class indices (HxW uint8) at the photo's size: the padding (bottom/right) cut, bilinear resize, argmax."""
    scale = spec.size / max(height, width)
    valid = logits[:, :, : round(height * scale), : round(width * scale)]
    return F.interpolate(valid, size=(height, width), mode="bilinear", align_corners=False).argmax(1)[0].numpy().astype(
        np.uint8)


class Predictor:
    """A trained segmentation model with its preprocessing; see the module docstring."""

    def __init__(self, spec: InferenceSpec, logits: Logits, source: str) -> None:
        self.spec, self._logits, self.source = spec, logits, source

    @property
    def names(self) -> list[str]:
        return list(self.spec.names)

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> Predictor:
        from projects.semiseg.transforms import eval_view

        model, spec = load_model(path)
        view = eval_view(spec.size, spec.mean, spec.std)

        @torch.no_grad()
        def logits(image: np.ndarray) -> torch.Tensor:
            x = view(image=image, mask=np.zeros(image.shape[:2], dtype=np.uint8))["image"][None]
            return model(x)

        return cls(spec, logits, str(path))

    @classmethod
    def from_onnx(cls, path: str | Path) -> Predictor:
        from shared.export import OnnxModel, resize_for

        onnx = OnnxModel(path)
        spec = onnx.spec

        def logits(image: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(onnx.run(resize_for(spec, image)[None])[0])

        return cls(spec, logits, str(path))

    def segment(self, image: np.ndarray) -> np.ndarray:
        """One RGB photo (HxWx3 uint8) -> its class-index mask (HxW uint8)."""
        return mask_from_logits(self._logits(image), self.spec, *image.shape[:2])

    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        """Paths, PIL images or HxWx3 uint8 arrays -> ``{"mask": HxW uint8, "classes": names present}`` each."""
        from shared.api import as_rgb

        return [self.result(self.segment(as_rgb(item))) for item in inputs]

    def result(self, mask: np.ndarray) -> dict[str, Any]:
        present = [self.spec.names[i] for i in np.unique(mask) if i < len(self.spec.names)]
        return {"mask": mask, "classes": present}
