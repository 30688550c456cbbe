"""Config composition: every group option composes, struct mode names unknown keys, projects are checked."""

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from shared.config import compose, project_config_dir
from shared.errors import ConfigError
from shared.paths import CONFIG_ROOT, PROJECTS


def _options(project: str, group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_ROOT / project / group).glob("*.yaml"))


def _projects_with_configs() -> list[str]:
    return [p for p in PROJECTS if (CONFIG_ROOT / p / "config.yaml").is_file()]


@pytest.mark.parametrize("project", _projects_with_configs())
def test_every_group_option_composes_and_resolves(project):
    not_groups = ("sweep", "report")  # multirun configs and table specs, not Hydra config groups
    groups = [d.name for d in (CONFIG_ROOT / project).iterdir() if d.is_dir() and d.name not in not_groups]
    for group in groups:
        for option in _options(project, group):
            cfg = compose(project, [f"{group}={option}", "paths.output_dir=/tmp/x"])
            for key in [k for k in cfg.data if OmegaConf.is_missing(cfg.data, k)]:  # the user gives it (data.root)
                cfg.data[key] = "/tmp/x"
            container = OmegaConf.to_container(cfg, resolve=True)
            assert container["project"] == project


def test_unknown_key_fails_naming_the_key():
    with pytest.raises(ConfigCompositionException) as err:
        compose("classification", ["trainer.max_epoch=3"])
    assert "max_epoch" in str(err.value.__cause__ or err.value)


def test_unknown_group_option_lists_choices():
    with pytest.raises(ConfigCompositionException) as err:
        compose("classification", ["model=not_a_model"])
    assert "not_a_model" in str(err.value) and "msff_ecomnet" in str(err.value)


def test_unknown_project_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown project 'segmentation'.*classification"):
        project_config_dir("segmentation")


def test_cli_unknown_project_exits_with_message(capsys):
    from shared.__main__ import main

    assert main(["train", "nope"]) == 2
    assert "unknown project 'nope'" in capsys.readouterr().err


def test_common_groups_are_shared_not_copied():
    # trainer/logger/callbacks/paths/hydra/debug come from configs/common for every project
    for project in _projects_with_configs():
        for group in ("trainer", "logger", "callbacks", "paths", "hydra"):
            assert not (CONFIG_ROOT / project / group).exists(), f"{project} copies the common group {group}"
    assert Path(CONFIG_ROOT / "common" / "trainer" / "default.yaml").is_file()


def test_precision_and_accelerator_are_trainer_keys():
    cfg = compose("classification", ["trainer.precision=bf16-mixed", "trainer.accelerator=auto"])
    assert cfg.trainer.precision == "bf16-mixed" and cfg.trainer.accelerator == "auto"
