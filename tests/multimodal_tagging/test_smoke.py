"""Every model config (and the no-KNN ablation) runs one tiny fit/val/test step on synthetic data."""

import json
from pathlib import Path

import pytest

from shared.datasets.synthetic import TAGS
from tests.metric_names import assert_conventional
from tests.multimodal_tagging.tiny import TINY


@pytest.mark.parametrize("overrides", [["model=dual_attention"], ["model=no_industry"], ["model=concat"],
                                       ["model=image_only"], ["model=text_only"],
                                       ["model=dual_attention", "weak.use_knn=false"]],
                         ids=["dual_attention", "no_industry", "concat", "image_only", "text_only", "no_knn"])
def test_config_runs_one_step(run_project, overrides):
    cfg, results = run_project("multimodal_tagging", [*overrides, *TINY])
    for key in ("f1_macro", "f1_weighted", "precision_macro", "recall_macro"):
        assert 0.0 <= results[f"final/test/{key}"] <= 1.0
    assert f"final/test/f1/{TAGS[0]}" in results
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert saved["final/test/f1_macro"] == pytest.approx(results["final/test/f1_macro"])
    assert_conventional(saved)   # every name the project logs (root README, "Metric names")


def test_ablation_experiment_configs_compose():
    from shared.config import compose

    cfg = compose("multimodal_tagging", ["experiment=fashion_tags_no_knn"])
    assert cfg.data.dataset == "fashion_tags" and cfg.weak.use_knn is False and cfg.trainer.max_epochs == 12
    assert cfg.callbacks.weak_labels.refresh_epochs == [4, 8]
    cfg = compose("multimodal_tagging", ["experiment=fashion_tags", "model=image_only"])
    assert cfg.model.image.arch == "mobilenetv3_small_100" and cfg.model.use_text is False
