"""The folder audit (CSV + HTML report) with a corrupt file and a non-image file, and the benchmark."""

import csv
import json
import re

import numpy as np
import pytest
from PIL import Image

from projects.quality.degradations import degrade
from shared.datasets.synthetic import SyntheticSpec, make_sample

TINY = ["data.options.image_size=32", "data.image_size=32", "data.batch_size=8",
        "data.options.sources={train: 6, val: 3, test: 4}"]


@pytest.fixture
def photo_folder(tmp_path):
    """Photos of several sizes and formats (one of them heavily blurred), a corrupt JPEG, a text file."""
    folder = tmp_path / "catalogue"
    (folder / "sub").mkdir(parents=True)
    clean = make_sample(11, 0, SyntheticSpec(image_size=64, clutter_prob=0.0)).image
    Image.fromarray(clean).save(folder / "clean.png")
    Image.fromarray(degrade(clean, "blur", 5, np.random.default_rng(0))).save(folder / "blurred.jpg", quality=95)
    Image.fromarray(make_sample(11, 1, SyntheticSpec(image_size=64)).image).resize((200, 90)).save(
        folder / "sub" / "wide.webp")
    Image.fromarray(make_sample(11, 2, SyntheticSpec(image_size=48)).image).save(folder / "small.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    (folder / "notes.txt").write_text("not an image")
    (folder / ".DS_Store").write_bytes(b"hidden files are skipped")
    return folder


def _rows(path):
    return list(csv.DictReader(path.open()))


def test_audit_with_classical_model_lists_errors_and_sorts_worst_first(run_project, photo_folder, tmp_path):
    # Calibrate the classical measures on synthetic pristine products (train writes the calibration),
    # then audit with it, as a user does with CKPT=<run>/classical_calibration.json.
    small = ["data.options.image_size=64", "data.image_size=64", "data.options.sources={train: 24, val: 2, test: 2}"]
    cfg, _ = run_project("quality", ["model=classical", *small])
    calibration = f"{cfg.paths.output_dir}/classical_calibration.json"
    out = tmp_path / "audit"
    run_project("quality", ["model=classical", *small, f"ckpt_path={calibration}", f"input={photo_folder}",
                            f"output={out}"], task="audit")
    rows = _rows(out / "audit.csv")
    assert len(rows) == 6  # 4 photos + 2 errors; the hidden file is not listed
    errors = {r["file"]: r["error"] for r in rows if r["error"]}
    assert set(errors) == {"broken.jpg", "notes.txt"} and all("cannot read image" in e for e in errors.values())
    good = [r for r in rows if not r["error"]]
    scores = [float(r["score"]) for r in good]
    assert scores == sorted(scores) and all(0 < s <= 1 for s in scores)
    assert rows[-2:] == [r for r in rows if r["error"]]  # errors after the scored images
    by_name = {r["file"]: r for r in good}
    assert float(by_name["blurred.jpg"]["score"]) < float(by_name["clean.png"]["score"])
    assert "blur" in by_name["blurred.jpg"]["top_defects"] and by_name["blurred.jpg"]["accept"] == "0"
    assert by_name["clean.png"]["accept"] == "1" and by_name["clean.png"]["top_defects"] == ""
    assert (by_name["sub/wide.webp"]["width"], by_name["sub/wide.webp"]["height"]) == ("200", "90")

    report = (out / "report.html").read_text()
    assert report.count("data:image/jpeg;base64,") == 4  # self-contained thumbnails
    assert "broken.jpg" in report and "notes.txt" in report and "Errors (not scored)" in report
    order = re.findall(r'class="name" title="([^"]+)"', report)
    assert order == [r["file"] for r in good]  # the report shows the CSV's worst-to-best order


def test_audit_with_committed_classical_calibration(run_project, photo_folder, tmp_path):
    out = tmp_path / "audit"
    run_project("quality", ["model=classical", f"input={photo_folder}", f"output={out}"], task="audit")
    rows = _rows(out / "audit.csv")
    assert len(rows) == 6 and [bool(r["error"]) for r in rows] == [False] * 4 + [True] * 2
    assert "classical_calibration.json" in (out / "report.html").read_text()


def test_audit_with_trained_checkpoints(run_project, photo_folder, tmp_path):
    for model in ("timm_iqa", "seed_cnn"):
        cfg, _ = run_project("quality", [f"model={model}", *TINY, f"paths.output_dir={tmp_path / model}"])
        ckpt = f"{cfg.paths.output_dir}/checkpoints/last.ckpt"
        out = tmp_path / f"audit-{model}"
        run_project("quality", [f"ckpt_path={ckpt}", f"input={photo_folder}", f"output={out}"], task="audit")
        rows = _rows(out / "audit.csv")
        assert len(rows) == 6 and sum(bool(r["error"]) for r in rows) == 2
        assert all(r["accept"] in ("0", "1") for r in rows if not r["error"])
        if model == "seed_cnn":  # no defect head: no reasons, and the report says so for rejected images
            assert all(r["top_defects"] == "" for r in rows)


@pytest.mark.slow   # every model, ONNX exports and an audit child process (make bench's code at tiny sizes)
def test_bench_writes_the_issue_keys(run_project, tmp_path):
    out = tmp_path / "bench.json"
    run_project("quality", ["bench.images=4", "bench.batch_size=2", "bench.repeats=1", "bench.warmup=0",
                            "bench.peak_rss_photos=[1]", "bench.peak_rss_photo_size=[300,200]",
                            f"bench.output={out}"], task="bench")
    res = json.loads(out.read_text())
    for key in ("audit_imgs_per_s_timm_iqa", "audit_imgs_per_s_seed_cnn", "audit_imgs_per_s_classical",
                "audit_imgs_per_s_timm_iqa_lite0", "params_timm_iqa_lite0", "peak_rss_mb", "device", "images_source"):
        assert key in res
    assert res["audit_peak_rss_mb_1_photo"] > 50  # a child process running torch
    assert res["audit_imgs_per_s_timm_iqa"] > 0 and res["params_seed_cnn"] > 0 and res["params_classical"] == 0
    for model in ("timm_iqa_lite0", "seed_cnn"):
        for batch in (1, 32):
            assert res[f"ort_images_per_s_{model}_b{batch}"] > 0 and res[f"eager_images_per_s_{model}_b{batch}"] > 0
