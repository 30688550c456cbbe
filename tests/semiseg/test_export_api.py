"""make export (ONNX with the normalisation inside, dynamic batch, model.json), predict with model.onnx,
and the Python API (shared.api.load -> projects.semiseg.api.Predictor) giving the CLI's masks."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.api import load
from shared.config import compose
from shared.export import OnnxModel, read_model_json
from shared.tasks import dispatch

from .tiny import TINY


def _run(out: Path, overrides: list[str], task: str = "train"):
    cfg = compose("semiseg", ["debug=smoke", *TINY, f"paths.output_dir={out}", f"paths.log_dir={out.parent}",
                              *overrides], task=task)
    return cfg, dispatch(cfg)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    cfg, _ = _run(tmp / "train", ["method=supervised", "test_after_fit=false"])
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    photos = tmp / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i, size in enumerate([(40, 30), (24, 36), (32, 32)]):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(photos / f"p{i}.png")
    _, folder = _run(tmp / "export", [f"ckpt_path={ckpt}", f"input={photos}", f"output={tmp / 'onnx'}"], task="export")
    return tmp, ckpt, photos, Path(folder)


def test_export_writes_onnx_and_model_json_checked_with_onnxruntime(exported):
    tmp, ckpt, photos, folder = exported
    meta = read_model_json(folder / "model.onnx")
    assert meta["spec"]["resize"] == "long_side_pad" and meta["spec"]["size"] == 32
    assert meta["input"]["normalisation"] == "inside the graph" and meta["checked"]["max_abs_diff"] <= 1e-4
    onnx = OnnxModel(folder / "model.onnx")
    for batch in (1, 3):   # dynamic batch
        out = onnx.run(np.zeros((batch, 3, 32, 32), dtype=np.float32))[0]
        assert out.shape == (batch, len(meta["spec"]["names"]), 32, 32)


def test_predict_with_model_onnx_writes_the_masks_of_the_checkpoint(exported):
    tmp, ckpt, photos, folder = exported
    _run(tmp / "p1", [f"ckpt_path={ckpt}", f"input={photos}", f"output={tmp / 'torch'}"], task="predict")
    _run(tmp / "p2", [f"ckpt_path={folder / 'model.onnx'}", f"input={photos}", f"output={tmp / 'ort'}"],
         task="predict")
    for photo in sorted(photos.iterdir()):
        a, b = (np.asarray(Image.open(tmp / kind / "masks" / f"{photo.name}.png")) for kind in ("torch", "ort"))
        assert a.shape == b.shape == np.asarray(Image.open(photo)).shape[:2]
        assert (a != b).mean() <= 1e-3   # logits agree within 1e-4: only a near-tie can flip a pixel


def test_python_api_gives_the_cli_masks_from_paths_pil_images_and_arrays(exported):
    tmp, ckpt, photos, folder = exported
    _run(tmp / "p3", [f"ckpt_path={ckpt}", f"input={photos}", f"output={tmp / 'cli'}"], task="predict")
    model = load(ckpt)
    path = photos / "p0.png"
    results = model.predict([path, Image.open(path), np.asarray(Image.open(path))])
    cli = np.asarray(Image.open(tmp / "cli" / "masks" / "p0.png.png"))
    for result in results:
        assert result["mask"].dtype == np.uint8 and np.array_equal(result["mask"], cli)
        assert set(result["classes"]) <= set(model.names) and result["classes"]
    onnx_result = load(folder / "model.onnx").predict([str(path)])[0]
    assert (onnx_result["mask"] != cli).mean() <= 1e-3


def test_predict_takes_size_and_resize_from_the_checkpoint_not_from_the_command_line(exported):
    tmp, ckpt, photos, _ = exported
    _run(tmp / "p4", [f"ckpt_path={ckpt}", f"input={photos}", f"output={tmp / 'a'}"], task="predict")
    _run(tmp / "p5", [f"ckpt_path={ckpt}", f"input={photos}", f"output={tmp / 'b'}", "data.eval_size=64"],
         task="predict")
    for photo in photos.iterdir():
        a, b = (np.asarray(Image.open(tmp / kind / "masks" / f"{photo.name}.png")) for kind in ("a", "b"))
        assert np.array_equal(a, b)
