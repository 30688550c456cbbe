"""Train -> resume -> predict -> bench, on tiny synthetic data."""

import csv
import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from torch import nn

from shared.datasets.synthetic import SyntheticSpec, make_sample

TINY = ["data.options.image_size=32", "data.image_size=32", "data.batch_size=4", "data.num_workers=0",
        "model=msff_base"]


@pytest.mark.slow   # two trainings; test-fast keeps test_robust_runs.py's resume check
def test_resume_continues_from_last_checkpoint(run_project):
    cfg, _ = run_project("classification", TINY)
    last = f"{cfg.paths.output_dir}/checkpoints/last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 0
    cfg2, _ = run_project("classification", [*TINY, f"ckpt_path={last}", "trainer.max_epochs=2",
                                              "paths.output_dir=" + cfg.paths.output_dir + "-resumed"])
    resumed = torch.load(f"{cfg2.paths.output_dir}/checkpoints/last.ckpt", weights_only=False)
    assert resumed["epoch"] == 1 and resumed["global_step"] == 4


class LayerOutputDtypes(pl.Callback):
    """Writes the dtypes of every Conv2d / Linear output in the first training step to ``path`` (a file:
    the Trainer builds this callback from the config, so the test reads what it saw from disk)."""

    def __init__(self, path: str) -> None:
        self.path, self.dtypes, self.handles = Path(path), set(), []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == 0:
            self.handles = [m.register_forward_hook(lambda _m, _i, out: self.dtypes.add(str(out.dtype)))
                            for m in pl_module.modules() if isinstance(m, nn.Conv2d | nn.Linear)]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        for handle in self.handles:
            handle.remove()
        if batch_idx == 0:
            self.path.write_text(json.dumps(sorted(self.dtypes)))


@pytest.mark.parametrize("precision, expected", [("bf16-mixed", ["torch.bfloat16"]), ("32", ["torch.float32"])])
def test_bf16_mixed_precision_on_cpu(run_project, tmp_path, precision, expected):
    """bf16-mixed runs the convolutions and linear layers in bfloat16 autocast (fp32 weights); the
    fp32 run is the control that shows the probe tells the two apart."""
    probe = tmp_path / "dtypes.json"
    _, results = run_project("classification", [*TINY, f"trainer.precision={precision}",
                                                "+callbacks.dtypes._target_=tests.classification.test_workflows."
                                                "LayerOutputDtypes", f"+callbacks.dtypes.path={probe}"])
    assert json.loads(probe.read_text()) == expected
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
    from shared.datasets.synthetic import CATEGORIES

    assert len(good) == 3 and all(r["prediction"] in CATEGORIES for r in good)
    assert all(0 <= float(r["confidence"]) <= 1 for r in good)
    assert [r["file"].endswith("broken.jpg") for r in rows if r["error"]] == [True]

    _, evaluated = run_project("classification", [*TINY, f"ckpt_path={ckpt}"], task="eval")
    assert 0 <= evaluated["test/acc"] <= 1 and "test/f1_macro" in evaluated


def test_eval_and_predict_without_checkpoint_are_clear_errors(run_project):
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match="eval needs a checkpoint: pass CKPT="):
        run_project("classification", TINY, task="eval")
    with pytest.raises(ConfigError, match="checkpoint not found: /nope.ckpt"):
        run_project("classification", [*TINY, "ckpt_path=/nope.ckpt", "input=/tmp"], task="predict")


@pytest.mark.slow   # every Table 3 model, ONNX exports and a predict child process (make bench's code at 32 px)
def test_bench_writes_the_issue_keys(run_project, tmp_path):
    out = tmp_path / "bench.json"
    run_project("classification", ["bench.batch_size=2", "bench.image_size=32", "bench.repeats=1",
                                   "bench.warmup=1", "bench.train_image_size=32", "bench.train_batch_size=2",
                                   "bench.train_repeats=1", "bench.peak_rss_photos=[1]",
                                   "bench.peak_rss_photo_size=[300,200]", f"bench.output={out}"], task="bench")
    res = json.loads(out.read_text())
    models = ["msff", "resnet50", "mobilenetv3", "efficientnet_b0"]
    if "skipped" not in res:
        models += ["efficientnet_lite0", "efficientnet_lite2", "lite0_msff_stage"]
    for key in models:
        for kind in ("params", "gflop_per_img", "imgs_per_s", "achieved_gflop_s"):
            assert res[f"{kind}_{key}"] > 0, (kind, key)
        assert res[f"imgs_per_s_{key}_nchw"] > 0
    for arch in ("tf_efficientnet_lite0", "resnet50"):  # the plain timm reference, both layouts
        assert res[f"imgs_per_s_timm_{arch}"] > 0 and res[f"imgs_per_s_timm_{arch}_nchw"] > 0
    assert res["train_imgs_per_s_msff"] > 0 and res["train_imgs_per_s_msff_nchw"] > 0
    for batch in (1, 32):  # make export's graph in ONNX Runtime beside PyTorch eager
        assert res[f"ort_images_per_s_msff_b{batch}"] > 0 and res[f"eager_images_per_s_msff_b{batch}"] > 0
    # ResNet-50 is 4.1 G multiply-adds at 224 px: 8.2 GFLOP, ~1/49 of it at 32 px
    assert res["gflop_per_img_resnet50"] == pytest.approx(8.2 / 49, rel=0.15)
    assert res["params_msff"] < res["params_resnet50"] and res["throughput_ratio_msff_over_resnet50"] > 0
    assert res["predict_peak_rss_mb_1_photo"] > 50  # a child process running torch
