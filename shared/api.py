"""The Python API, one entry for every project::

    from shared.api import load
    model = load("runs/.../checkpoints/last.ckpt")      # or an exported .../model.onnx
    results = model.predict(["photo.jpg", pil_image, rgb_array])   # plain Python: lists, dicts, numbers

``load`` reads which project wrote the file (the checkpoint's inference spec, or ``model.json`` beside an
ONNX export) and returns that project's ``Predictor`` (``projects/<project>/api.py``). The command-line
``make predict`` runs the same ``Predictor``, so the API gives the CLI's numbers. variational_seg has no
checkpoint to load: ``from projects.variational_seg.api import cut_out``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import CheckpointError, DataError
from shared.paths import PROJECTS

Input = Any   # a path (str / Path), a PIL image, or an HxWx3 (or HxW) uint8 array


def load(path: str | os.PathLike, cfg: Any = None) -> Any:
    """The project ``Predictor`` for a checkpoint (``.ckpt``) or an exported ``model.onnx``. With a project
    ``cfg`` (a CLI's predict): that project's Predictor, once the command line is checked against the file's
    spec (:func:`shared.inference.apply_spec`)."""
    from shared.export import is_onnx, read_model_json
    from shared.inference import InferenceSpec, apply_spec, read_spec

    path = Path(path).expanduser()
    onnx = is_onnx(path)
    spec = InferenceSpec.from_dict(read_model_json(path)["spec"], str(path)) if onnx else read_spec(path)
    if cfg is not None:
        apply_spec(cfg, spec, path)
    predictor = predictor_class(str(cfg.project) if cfg is not None else spec.project, path)
    return predictor.from_onnx(path) if onnx else predictor.from_checkpoint(path)


def predictor_class(project: str, path: str | os.PathLike) -> Any:
    if project not in PROJECTS:
        raise CheckpointError(f"{path} was written by {project!r}, which is not an ecomvision project")
    module = importlib.import_module(f"projects.{project}.api")
    predictor = getattr(module, "Predictor", None)
    if predictor is None:
        raise CheckpointError(f"{path}: the {project} project has no Predictor to load it with")
    return predictor


def as_rgb(item: Input) -> np.ndarray:
    """One input as an RGB uint8 HxWx3 array, read as every path of the repo reads a photo
    (:func:`shared.datasets.io.read_image`: EXIF orientation, bit depth, transparency onto white)."""
    from PIL import Image

    from shared.datasets.io import read_image, to_rgb8, upright

    if isinstance(item, (str, os.PathLike)):
        return read_image(item)
    if isinstance(item, Image.Image):
        return to_rgb8(upright(item.copy()))
    if isinstance(item, np.ndarray):
        array = item
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] not in (3, 4):
            raise DataError(f"an image array must be HxW, HxWx3 or HxWx4, got shape {item.shape}")
        if array.dtype != np.uint8:
            if np.issubdtype(array.dtype, np.floating) and array.size and float(np.nanmax(array)) <= 1.0:
                array = array * 255.0
            array = np.clip(np.rint(np.nan_to_num(array.astype(np.float64))), 0, 255).astype(np.uint8)
        if array.shape[2] == 4:
            return to_rgb8(Image.fromarray(array, mode="RGBA"))
        return np.ascontiguousarray(array)
    raise DataError(f"cannot read an image from a {type(item).__name__}: pass a path, a PIL image or an array")


def name_of(item: Input, index: int) -> str:
    """What a result row calls its input: the path, or ``input[<index>]`` for an in-memory image."""
    return str(item) if isinstance(item, (str, os.PathLike)) else f"input[{index}]"
