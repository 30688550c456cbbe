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


def test_model_config_reads_a_model_as_hydra_composes_it():
    """The bench and figure read model configs without Hydra (methods.model_config): a config built on another
    (wbh_colour_extent_later on wbh_colour_extent) keeps its parent's blocks and its own values win."""
    from projects.variational_seg.methods import model_config
    from shared.config import compose, plain_dict
    from shared.errors import ConfigError

    for name in ("wbh_colour_extent_later", "wbh_colour_extent", "cv2_grabcut"):
        assert model_config(name) == plain_dict(compose("variational_seg", [f"model={name}"], task="eval").model)
    later = model_config("wbh_colour_extent_later")
    assert later["name"] == "wbh_colour_extent_later" and later["extent"]["later"] == "positive"
    assert later["clicks"] == model_config("wbh_colour_extent")["clicks"]
    with pytest.raises(ConfigError, match="model=nope"):
        model_config("nope")
