"""Every quality model config runs one tiny step on synthetic data (train for the learned families,
eval for the classical one, which has no weights)."""

import json
from pathlib import Path

import pytest

from shared.errors import ConfigError

TINY = ["data.options.image_size=32", "data.image_size=32", "data.batch_size=8",
        "data.options.sources={train: 6, val: 3, test: 4}"]
CLASSIFICATION_KEYS = ("acc", "precision", "recall", "auroc", "srcc", "plcc", "plcc_logistic")


@pytest.mark.parametrize("model", ["seed_cnn", "timm_iqa"])
def test_learned_model_config_runs_one_step(run_project, model):
    cfg, results = run_project("quality", [f"model={model}", *TINY])
    for key in CLASSIFICATION_KEYS:
        assert f"final/test/{key}" in results
    assert 0.0 <= results["final/test/acc"] <= 1.0
    assert ("final/test/defect_f1" in results) == (model == "timm_iqa")  # seed_cnn has no defect head
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert saved["final/test/auroc"] == pytest.approx(results["final/test/auroc"])
    assert (Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt").is_file()


def test_classical_config_evaluates_without_checkpoint_and_saves_calibration(run_project):
    cfg, results = run_project("quality", ["model=classical", *TINY], task="eval")
    assert results["test/params_m"] == 0.0 and 0 <= results["test/acc"] <= 1
    assert "test/f1_blur" in results and "test/f1_framing" not in results  # framing: not covered
    calibration = json.loads((Path(cfg.paths.output_dir) / "classical_calibration.json").read_text())
    assert calibration["calibration"]["laplacian_var"]["n"] == 6  # the 6 pristine train images


def test_training_the_classical_model_is_a_clear_error(run_project):
    with pytest.raises(ConfigError, match="model=classical has no learned weights"):
        run_project("quality", ["model=classical", *TINY])
