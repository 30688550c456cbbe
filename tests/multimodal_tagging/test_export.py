"""make export: the tagger and its title encoder as ONNX; predict and the Python API give the PyTorch numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.api import load
from shared.errors import CheckpointError
from tests.multimodal_tagging.tiny import SMALL, tiny_text_encoder, write_shop


def read_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


@pytest.mark.slow   # a training, an ONNX export and predict
def test_export_then_predict_with_onnx_gives_the_pytorch_output(run_project, tmp_path, capsys):
    products = write_shop(tmp_path / "shop", tagged=12, untagged=2)
    text = tiny_text_encoder(tmp_path / "tiny_bert")
    cfg, _ = run_project("multimodal_tagging", ["data=csv", f"data.csv={products}", *SMALL, *text])
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    out = tmp_path / "export"
    run_project("multimodal_tagging", [f"ckpt_path={ckpt}", f"output={out}", f"input={products}"], task="export")
    printed = capsys.readouterr().out
    diffs = [float(line.split("= ")[1].split()[0]) for line in printed.splitlines() if "max |difference|" in line]
    assert len(diffs) == 2 and max(diffs) <= 1e-4   # the text encoder and the tagger
    meta = json.loads((out / "model.json").read_text())
    assert meta["spec"]["size"] == 32 and meta["text"]["onnx"] == "text_encoder.onnx"
    assert (out / "tokenizer" / "tokenizer_config.json").is_file()

    by_torch, by_onnx = tmp_path / "torch.csv", tmp_path / "onnx.csv"
    for model, result in ((ckpt, by_torch), (out / "model.onnx", by_onnx)):
        run_project("multimodal_tagging", [f"ckpt_path={model}", f"input={products}", f"output={result}"],
                    task="predict")
    torch_rows, onnx_rows = read_rows(by_torch), read_rows(by_onnx)
    assert [(r["file"], r["tags"]) for r in torch_rows] == [(r["file"], r["tags"]) for r in onnx_rows]
    names = meta["spec"]["names"]
    a = np.array([[float(r[n]) for n in names] for r in torch_rows])
    b = np.array([[float(r[n]) for n in names] for r in onnx_rows])
    assert np.abs(a - b).max() <= 1e-4   # 4 decimals written: at most one unit of the last one

    # the Python API: paths, PIL images and arrays, same tags and scores from both files
    image = products.parent / "images" / "p0.png"
    title = "red striped cotton t-shirt"
    batch = [(str(image), title, "apparel"), (Image.open(image), title, "apparel"),
             {"image": np.asarray(Image.open(image)), "title": "", "industry": "spaceship"}]
    from_ckpt, from_onnx = load(ckpt).predict(batch), load(out / "model.onnx").predict(batch)
    assert from_ckpt[0]["scores"] == pytest.approx(from_ckpt[1]["scores"], abs=1e-6)   # path == PIL image
    for p, q in zip(from_ckpt, from_onnx):
        assert p["tags"] == q["tags"] and set(p["scores"]) == set(names)
        assert max(abs(p["scores"][n] - q["scores"][n]) for n in names) <= 1e-4

    (out / "text_encoder.onnx").unlink()
    with pytest.raises(CheckpointError, match="title encoder is missing"):
        load(out / "model.onnx")


@pytest.mark.parametrize("model", ["text_only", "image_only"])
def test_an_ablation_exports_the_inputs_it_reads(model, tmp_path):
    """ONNX drops an input the graph never reads: the export names exactly the ones the model takes."""
    import torch

    from projects.multimodal_tagging.models.outputs import inference_model
    from projects.multimodal_tagging.module import TaggingModule
    from shared.config import compose
    from shared.export import OnnxModel, check_with_onnxruntime, to_onnx
    from shared.inference import InferenceSpec
    from tests.multimodal_tagging.tiny import TINY

    cfg = compose("multimodal_tagging", [f"model={model}", *TINY])
    module = TaggingModule(cfg.model, cfg.optim, dataset="synthetic").eval()
    net, names = inference_model(module.net, InferenceSpec("multimodal_tagging", tuple(module.tag_names), 32))
    feed = {"image": torch.rand(2, 3, 32, 32) * 255, "text_tokens": torch.randn(2, 12, 384),
            "text_mask": torch.ones(2, 12, dtype=torch.bool), "industry": torch.rand(2, module.schema.industry_dim)}
    path = to_onnx(net, tuple(feed[n] for n in names), tmp_path / "model.onnx", names, ["probabilities"])
    assert OnnxModel.session_only(path).input_names == names == (
        ["text_tokens", "text_mask"] if model == "text_only" else ["image"])
    assert check_with_onnxruntime(path, net, tuple(feed[n] for n in names)) <= 1e-4
