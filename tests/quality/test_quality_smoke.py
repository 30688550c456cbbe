"""Every quality model config runs one tiny step on synthetic data (train; the classical model's fit
is its calibration, and its eval loads that calibration instead of fitting)."""

import json
from pathlib import Path

import pytest

from shared.errors import ConfigError
from tests.metric_names import assert_conventional

TINY = ["data.options.image_size=32", "data.image_size=32", "data.batch_size=8",
        "data.options.sources={train: 6, val: 3, test: 4}"]
CLASSIFICATION_KEYS = ("acc", "precision_binary", "recall_binary", "f1_binary", "auroc", "srcc", "plcc",
                       "plcc_logistic")


@pytest.mark.parametrize("model", ["seed_cnn", *(pytest.param(m, marks=pytest.mark.slow)   # timm backbones: make test
                                                  for m in ("timm_iqa", "timm_iqa_lite0"))])
def test_learned_model_config_runs_one_step(run_project, model):
    cfg, results = run_project("quality", [f"model={model}", *TINY])
    for key in CLASSIFICATION_KEYS:
        assert f"final/test/{key}" in results
    assert 0.0 <= results["final/test/acc"] <= 1.0
    assert ("final/test/f1_macro" in results) == model.startswith("timm_iqa")  # seed_cnn has no defect head
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert saved["final/test/auroc"] == pytest.approx(results["final/test/auroc"])
    assert_conventional(saved)   # every name the project logs (root README, "Metric names")
    assert (Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt").is_file()


def test_classical_fit_calibrates_on_train_pristine_then_eval_loads_it_and_never_fits(run_project, monkeypatch):
    """`train` of the classical model is its calibration (on the 6 pristine train images), kept in the
    checkpoint; `eval` of that checkpoint loads it and gives the same test metrics without calibrating."""
    import torch

    from projects.quality.models.classical import ClassicalIQA

    cfg, results = run_project("quality", ["model=classical", *TINY])
    assert results["final/test/params_m"] == 0.0 and 0 <= results["final/test/acc"] <= 1
    assert "final/test/f1/blur" in results and "final/test/f1/framing" not in results  # framing: not covered
    run_dir = Path(cfg.paths.output_dir)
    calibration = json.loads((run_dir / "classical_calibration.json").read_text())
    assert calibration["calibration"]["laplacian_var"]["n"] == 6  # the 6 pristine train images
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)["classical_calibration"]
    assert saved == calibration["calibration"]

    def no_fit(self, images):
        raise AssertionError("eval must not calibrate")
    monkeypatch.setattr(ClassicalIQA, "fit_pristine", no_fit)
    _, evaluated = run_project("quality", ["model=classical", *TINY, f"ckpt_path={ckpt}"], task="eval")
    for key in ("acc", "auroc", "srcc", "plcc", "f1/blur"):
        assert evaluated[f"test/{key}"] == pytest.approx(results[f"final/test/{key}"])


def test_eval_of_an_uncalibrated_classical_model_stops_without_fitting(run_project, monkeypatch):
    from projects.quality.models.classical import ClassicalIQA

    calls = []
    monkeypatch.setattr(ClassicalIQA, "fit_pristine", lambda self, images: calls.append(len(images)))
    with pytest.raises(ConfigError, match="model=classical is not calibrated: calibrate it with `make train"):
        run_project("quality", ["model=classical", *TINY], task="eval")
    assert calls == []
