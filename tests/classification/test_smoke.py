"""Every classification model config runs one tiny fit/val/test step on synthetic data."""

import json
from pathlib import Path

import pytest

from shared.paths import REPO_ROOT
from tests.metric_names import assert_conventional

TINY = ["data.options.image_size=32", "data.image_size=32", "data.batch_size=4", "data.num_workers=0"]
# one training step, one val and one test batch, the best checkpoint alone (tested after the fit)
ONE_STEP = ["trainer.limit_train_batches=1", "data.options.sizes={train:8,val:4,test:4}",
            "callbacks.last_checkpoint=null"]

MODELS = sorted(p.stem for p in (REPO_ROOT / "configs" / "classification" / "model").glob("*.yaml"))
FAST = {"msff_base"}   # make test-fast smokes the cheapest config; make test runs every one


def test_model_configs_are_found():
    assert {"msff_ecomnet", "resnet50", "mobilenetv3_large_100", "efficientnet_b0"} <= set(MODELS)


@pytest.mark.parametrize("model", [m if m in FAST else pytest.param(m, marks=pytest.mark.slow) for m in MODELS])
def test_model_config_runs_one_step(run_project, model):
    cfg, results = run_project("classification", [f"model={model}", *TINY, *ONE_STEP])
    assert "final/test/acc" in results and 0.0 <= results["final/test/acc"] <= 1.0
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert saved["final/test/acc"] == pytest.approx(results["final/test/acc"])
    assert "final/test/f1_macro" in saved
    assert_conventional(saved)   # every name the project logs (root README, "Metric names")
    assert (Path(cfg.paths.output_dir) / "confusion_matrix.png").is_file()
