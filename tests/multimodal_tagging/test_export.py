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
    batch = [(str(image), "red striped cotton t-shirt", "apparel"), (Image.open(image), "red striped cotton t-shirt", "apparel"),
             {"image": np.asarray(Image.open(image)), "title": "", "industry": "spaceship"}]
    from_ckpt, from_onnx = load(ckpt).predict(batch), load(out / "model.onnx").predict(batch)
    assert from_ckpt[0]["scores"] == pytest.approx(from_ckpt[1]["scores"], abs=1e-6)   # path == PIL image
    for p, q in zip(from_ckpt, from_onnx):
        assert p["tags"] == q["tags"] and set(p["scores"]) == set(names)
        assert max(abs(p["scores"][n] - q["scores"][n]) for n in names) <= 1e-4

    (out / "text_encoder.onnx").unlink()
    with pytest.raises(CheckpointError, match="title encoder is missing"):
        load(out / "model.onnx")
