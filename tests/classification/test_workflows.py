"""Train -> resume -> predict -> bench, on tiny synthetic data."""

import csv
import json

import numpy as np
import torch
from PIL import Image

from shared.data.synthetic import SyntheticSpec, make_sample

TINY = ["data.options.image_size=32", "data.image_size=32", "data.batch_size=4", "data.num_workers=0",
        "model=msff_base"]


def test_resume_continues_from_last_checkpoint(run_project):
    cfg, _ = run_project("classification", TINY)
    last = f"{cfg.paths.output_dir}/checkpoints/last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 0
    cfg2, _ = run_project("classification", [*TINY, f"ckpt_path={last}", "trainer.max_epochs=2",
                                              "paths.output_dir=" + cfg.paths.output_dir + "-resumed"])
    resumed = torch.load(f"{cfg2.paths.output_dir}/checkpoints/last.ckpt", weights_only=False)
    assert resumed["epoch"] == 1 and resumed["global_step"] == 4


def test_bf16_mixed_precision_on_cpu(run_project):
    _, results = run_project("classification", [*TINY, "trainer.precision=bf16-mixed"])
    assert 0 <= results["final/test/acc"] <= 1


def test_predict_writes_csv_and_lists_unreadable_files(run_project, tmp_path):
    cfg, _ = run_project("classification", TINY)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(make_sample(9, i, SyntheticSpec(image_size=40)).image).save(folder / f"p{i}.png")
    (folder / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "pred.csv"
    ckpt = f"{cfg.paths.output_dir}/checkpoints/last.ckpt"
    run_project("classification", [*TINY, f"ckpt_path={ckpt}", f"input={folder}", f"output={out}"], task="predict")
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4
    good = [r for r in rows if not r["error"]]
    from shared.data.synthetic import CATEGORIES

    assert len(good) == 3 and all(r["prediction"] in CATEGORIES for r in good)
    assert all(0 <= float(r["confidence"]) <= 1 for r in good)
    assert [r["file"].endswith("broken.jpg") for r in rows if r["error"]] == [True]

    _, evaluated = run_project("classification", [*TINY, f"ckpt_path={ckpt}"], task="eval")
    assert 0 <= evaluated["test/acc"] <= 1 and "test/f1" in evaluated


def test_eval_and_predict_without_checkpoint_are_clear_errors(run_project):
    import pytest

    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match="eval needs a checkpoint: pass CKPT="):
        run_project("classification", TINY, task="eval")
    with pytest.raises(ConfigError, match="checkpoint not found: /nope.ckpt"):
        run_project("classification", [*TINY, "ckpt_path=/nope.ckpt", "input=/tmp"], task="predict")


def test_bench_writes_the_issue_keys(run_project, tmp_path):
    out = tmp_path / "bench.json"
    run_project("classification", ["bench.batch_size=2", "bench.image_size=32", "bench.repeats=1",
                                   "bench.warmup=1", f"bench.output={out}"], task="bench")
    res = json.loads(out.read_text())
    for key in ("params_msff", "params_resnet50", "imgs_per_s_msff", "imgs_per_s_resnet50",
                "throughput_ratio_msff_over_resnet50", "device"):
        assert key in res
    assert res["params_msff"] < res["params_resnet50"] and res["imgs_per_s_msff"] > 0
    assert np.isclose(res["throughput_ratio_msff_over_resnet50"],
                      res["imgs_per_s_msff"] / res["imgs_per_s_resnet50"], rtol=1e-2)
