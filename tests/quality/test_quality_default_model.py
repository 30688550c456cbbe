"""The shipped default model: its threshold rule, its files, and the audit that needs no CKPT."""

import csv
import json

import numpy as np
import pytest

from projects.quality.api import DEFAULT_MODEL, Predictor
from projects.quality.default_model import accept_threshold, rates


def test_threshold_is_the_lowest_with_at_most_the_allowed_false_rejects():
    pristine = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.9])
    degraded = np.array([0.35, 0.55, 0.95, 0.99])
    p = np.concatenate([pristine, degraded])
    reject = np.array([False] * 10 + [True] * 4)
    threshold = accept_threshold(p, reject, 0.1)   # one false reject of ten allowed: the 0.9 one
    assert threshold == 0.6
    r = rates(p, reject, threshold, [f"ccp/{i}" for i in range(14)])
    assert r["false_reject_rate"] == 0.1 and r["recall"] == 0.5 and r["false_reject_rate_ccp"] == 0.1
    assert accept_threshold(p, reject, 0.0) == 0.9   # none allowed: above every pristine photo


shipped = pytest.mark.skipif(not (DEFAULT_MODEL / "model.safetensors").is_file(), reason="default model not made")


@shipped
def test_shipped_files_are_small_fp16_and_name_their_threshold():
    from safetensors.torch import load_file

    assert (DEFAULT_MODEL / "model.safetensors").stat().st_size <= 10 * 2**20
    floats = [t for t in load_file(str(DEFAULT_MODEL / "model.safetensors")).values() if t.is_floating_point()]
    assert floats and all(str(t.dtype) == "torch.float16" for t in floats)
    meta = json.loads((DEFAULT_MODEL / "model.json").read_text())
    metrics = json.loads((DEFAULT_MODEL / "metrics.json").read_text())
    assert meta["spec"]["extra"]["decision_threshold"] == metrics["threshold"]
    assert 0 <= metrics["test"]["false_reject_rate"] <= 1 and 0 <= metrics["test"]["recall"] <= 1


@shipped
def test_audit_without_a_checkpoint_uses_the_default_model(run_project, tmp_path):
    from PIL import Image

    from shared.datasets.synthetic import SyntheticSpec, make_sample

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(make_sample(3, i, SyntheticSpec(image_size=96)).image).save(folder / f"{i}.jpg")
    out = tmp_path / "audit"
    run_project("quality", [f"input={folder}", f"output={out}", "audit.progress=false"], task="audit")
    rows = list(csv.DictReader((out / "audit.csv").open()))
    api = Predictor.default().predict([folder / r["file"] for r in rows])
    assert [r["accept"] for r in rows] == [str(int(p["verdict"] == "accept")) for p in api]
    assert [r["p_reject"] for r in rows] == [f"{p['p_reject']:.4f}" for p in api]
    assert "model.safetensors" in (out / "report.html").read_text()
