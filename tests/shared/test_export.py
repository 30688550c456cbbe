"""shared/export.py and shared/api.py: the ONNX round trip with the normalisation inside, model.json, the
exact eval resize, and the inputs the Python API accepts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from shared.api import as_rgb, load, name_of
from shared.errors import CheckpointError, ConfigError, DataError
from shared.export import (
    OnnxModel,
    check_with_onnxruntime,
    read_model_json,
    resize_for,
    to_onnx,
    with_preprocessing,
    write_model_json,
)
from shared.inference import InferenceSpec


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()


def test_preprocessing_inside_is_the_pipeline_normalisation():
    spec = InferenceSpec(project="classification", names=("a", "b"), size=8, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5))
    seen = {}

    class Spy(nn.Module):
        def forward(self, x):
            seen["x"] = x
            return x

    wrapped = with_preprocessing(Spy(), spec)
    wrapped(torch.full((1, 3, 2, 2), 255.0))
    # (1 - mean) / std per channel, by hand: (0.5/0.2, 0.6/0.25, 0.7/0.5)
    assert torch.allclose(seen["x"][0, :, 0, 0], torch.tensor([2.5, 2.4, 1.4]))


def test_onnx_round_trip_dynamic_batch_and_model_json(tmp_path):
    spec = InferenceSpec(project="classification", names=("a", "b"), size=16)
    model = with_preprocessing(tiny_net(), spec)
    path = to_onnx(model, (torch.rand(2, 3, 16, 16) * 255,), tmp_path / "model.onnx", ["image"], ["logits"])
    assert not list(tmp_path.glob("*.part"))
    diff = check_with_onnxruntime(path, model, (torch.rand(5, 3, 16, 16) * 255,))  # batch 5 != export batch 2
    assert diff < 1e-4
    write_model_json(tmp_path / "model.json", spec, {"logits": "class scores"}, thresholds={"accept": 0.5})
    runtime = OnnxModel(path)
    assert runtime.spec == spec and runtime.meta["thresholds"] == {"accept": 0.5}
    (logits,) = runtime.run(np.zeros((3, 3, 16, 16), np.float32))
    assert logits.shape == (3, 2)


def test_check_refuses_an_export_that_differs(tmp_path):
    spec = InferenceSpec(project="classification", names=("a", "b"), size=8)
    model = with_preprocessing(tiny_net(), spec)
    path = to_onnx(model, (torch.rand(1, 3, 8, 8) * 255,), tmp_path / "model.onnx", ["image"], ["logits"])
    with torch.no_grad():
        model.net[-1].bias += 1.0  # PyTorch changes after export
    with pytest.raises(ConfigError, match="differs from PyTorch"):
        check_with_onnxruntime(path, model, (torch.rand(2, 3, 8, 8) * 255,))


def test_model_json_missing_or_foreign_is_one_line(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(CheckpointError, match="model.json not found"):
        read_model_json(tmp_path / "model.onnx")
    (tmp_path / "model.json").write_text('{"hello": 1}')
    with pytest.raises(CheckpointError, match="not an ecomvision export"):
        load(tmp_path / "model.onnx")


def test_resize_for_matches_the_eval_pipelines():
    from projects.semiseg.transforms import eval_view
    from shared.augment import build_transforms

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(3, 1, 1) * 255
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(3, 1, 1) * 255
    stretch = InferenceSpec(project="classification", names=("a",), size=24)
    expected = build_transforms("eval", 24)(image=image)["image"].numpy()
    assert np.allclose((resize_for(stretch, image) - mean) / std, expected, atol=1e-5)
    padded = InferenceSpec(project="semiseg", names=("a",), size=24, resize="long_side_pad")
    expected = eval_view(24)(image=image, mask=np.zeros(image.shape[:2], np.uint8))["image"].numpy()
    assert np.allclose((resize_for(padded, image) - mean) / std, expected, atol=1e-5)


def test_as_rgb_reads_paths_pil_and_arrays(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "a.png")
    assert np.array_equal(as_rgb(tmp_path / "a.png"), rgb)
    assert np.array_equal(as_rgb(str(tmp_path / "a.png")), rgb)
    assert np.array_equal(as_rgb(Image.fromarray(rgb)), rgb)
    assert np.array_equal(as_rgb(rgb.astype(np.float32) / 255.0), rgb)
    assert as_rgb(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    rgba = np.concatenate([rgb, np.zeros((4, 5, 1), np.uint8)], axis=2)  # fully transparent: white
    assert as_rgb(rgba).min() == 255
    assert name_of(rgb, 3) == "input[3]" and name_of("x.jpg", 0) == "x.jpg"
    with pytest.raises(DataError, match="shape"):
        as_rgb(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(DataError, match="cannot read an image from a int"):
        as_rgb(3)
