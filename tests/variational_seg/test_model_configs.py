"""Every variational model config (configs/variational_seg/model, kind: variational) runs over tiny
synthetic data end to end: eval writes per-image rows and a summary under its own model name."""

from pathlib import Path

import pytest
import yaml

from shared.paths import REPO_ROOT

CONFIGS = REPO_ROOT / "configs" / "variational_seg" / "model"
# a config that inherits its kind through `defaults` (unet_lite0 from unet) is not a variational one
VARIATIONAL = sorted(p.stem for p in CONFIGS.glob("*.yaml")
                     if yaml.safe_load(p.read_text()).get("kind") == "variational")
TINY = ["data.options.sizes.test=2", "data.options.image_size=40", "data.batch_size=2", "+data.solver.max_iter=60"]


def test_variational_configs_are_found():
    assert {"wbh", "tv", "rci", "tv_tv2", "wbh_nogeo"} <= set(VARIATIONAL)


@pytest.mark.parametrize("model", VARIATIONAL)
def test_variational_model_config_runs(run_project, model):
    cfg, summary = run_project("variational_seg", [*TINY, f"model={model}"], task="eval")
    assert summary["model"] == model and summary["n"] == 2
    assert 0.0 <= summary["dice"] <= 1.0 and summary["iterations"] >= 1
    assert (Path(cfg.paths.output_dir) / "per_image.csv").is_file()
