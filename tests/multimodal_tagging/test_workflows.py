"""Train -> eval -> predict (with bad rows) -> bench, on tiny synthetic data."""

import csv
import json

import pytest
from PIL import Image

from shared.datasets.synthetic import TAGS, SyntheticSpec, make_sample
from shared.errors import DataError
from tests.multimodal_tagging.tiny import TINY


def test_predict_eval_and_bad_rows(run_project, tmp_path):
    cfg, _ = run_project("multimodal_tagging", TINY)
    ckpt = f"{cfg.paths.output_dir}/checkpoints/last.ckpt"
    folder = tmp_path / "photos"
    folder.mkdir()
    rows = ["id,title,industry,category"]
    for i in range(3):
        s = make_sample(9, i, SyntheticSpec(image_size=40))
        Image.fromarray(s.image).save(folder / f"p{i}.png")
        rows.append(f"p{i},{s.title},{s.industry},{'' if i == 1 else 'spaceship'}")  # unknown / empty category
    rows.append("p3,,apparel,dress")  # empty title
    Image.fromarray(make_sample(9, 3, SyntheticSpec(image_size=40)).image).save(folder / "p3.png")
    (folder / "broken.jpg").write_bytes(b"not an image")
    rows.append("broken,red hat,accessories,hat")
    meta = tmp_path / "meta.csv"
    meta.write_text("\n".join(rows) + "\n")
    out = tmp_path / "pred.csv"
    run_project("multimodal_tagging", [*TINY, f"ckpt_path={ckpt}", f"input={folder}", f"metadata={meta}",
                                       f"output={out}"], task="predict")
    got = list(csv.DictReader(out.open()))
    assert len(got) == 5
    good = [r for r in got if not r["error"]]
    assert len(good) == 4 and all(0 <= float(r[TAGS[0]]) <= 1 for r in good)
    assert all(t in TAGS for r in good for t in filter(None, r["tags"].split(";")))
    assert [r["file"].endswith("broken.jpg") for r in got if r["error"]] == [True]

    (folder / "orphan.png").write_bytes((folder / "p0.png").read_bytes())
    with pytest.raises(DataError, match="no metadata row.*orphan.png"):
        run_project("multimodal_tagging", [*TINY, f"ckpt_path={ckpt}", f"input={folder}", f"metadata={meta}",
                                           f"output={out}"], task="predict")

    _, evaluated = run_project("multimodal_tagging", [*TINY, f"ckpt_path={ckpt}"], task="eval")
    assert 0 <= evaluated["test/f1_macro"] <= 1


def test_bench_writes_the_issue_keys(run_project, tmp_path):
    out = tmp_path / "bench.json"
    run_project("multimodal_tagging", [*TINY, "bench.batch_size=2", "bench.image_size=32", "bench.repeats=1",
                                       "bench.warmup=1", "bench.num_titles=8", "bench.knn_items=200",
                                       "bench.lite0_image_size=32", "bench.image.arch=resnet10t",
                                       f"bench.output={out}"], task="bench")
    res = json.loads(out.read_text())
    for key in ("train_step_s_per_batch_full", "train_step_s_per_batch_image_only", "infer_items_per_s_full",
                "infer_items_per_s_image_only", "text_embed_titles_per_s", "knn_propagation_s", "device",
                "train_step_s_per_batch_full_lite0", "train_step_s_per_batch_full_lite0_frozen_encoder",
                "infer_items_per_s_full_lite0", "params_full_lite0", "ort_images_per_s_full_b1",
                "ort_images_per_s_full_b32", "eager_images_per_s_full_lite0_b32", "ort_images_per_s_full_lite0_b1",
                "ort_peak_rss_mb"):
        assert key in res and res[key]
    assert res["params_full"] > res["params_image_only"]
