"""Config composition: every group option and sweep job composes, model files package `model` only,
experiments are global presets, struct mode names unknown keys, projects are checked."""

import copy
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf, open_dict

from shared.config import compose, project_config_dir
from shared.errors import ConfigError
from shared.paths import CONFIG_ROOT, PROJECTS
from shared.run_folder import LAUNCH_CONFIG_DIR
from tests.config_groups import is_group


def _options(project: str, group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_ROOT / project / group).glob("*.yaml"))


def _projects_with_configs() -> list[str]:
    return [p for p in PROJECTS if (CONFIG_ROOT / p / "config.yaml").is_file()]


@pytest.mark.parametrize("project", _projects_with_configs())
def test_every_group_option_composes_and_resolves(project):
    not_groups = ("sweep", "report", "recipe")  # multirun configs, table specs, and what the model choice picks
    groups = [d.name for d in (CONFIG_ROOT / project).iterdir() if d.is_dir() and d.name not in not_groups]
    for group in groups:
        for option in _options(project, group):
            cfg = compose(project, [f"{group}={option}", "paths.output_dir=/tmp/x"])
            for key in [k for k in cfg.data if OmegaConf.is_missing(cfg.data, k)]:  # the user gives it (data.root)
                cfg.data[key] = "/tmp/x"
            container = OmegaConf.to_container(cfg, resolve=True)
            assert container["project"] == project


def test_model_files_package_model_and_experiments_are_global_presets():
    for path in CONFIG_ROOT.glob("*/model/*.yaml"):   # model=X sets `model` only (recipe/X.yaml the rest)
        assert "@package" not in path.read_text(), f"{path} packages more than `model`"
    for path in CONFIG_ROOT.glob("*/recipe/*.yaml"):  # picked by `optional recipe: ${model}`: named after a model
        assert (path.parent.parent / "model" / path.name).is_file(), f"{path} names no model config"
    experiments = list(CONFIG_ROOT.glob("*/experiment/*.yaml"))
    assert experiments and all(p.read_text().startswith("# @package _global_\n") for p in experiments)


def _sweep_grid(project: str, sweep: str) -> dict[str, list]:
    """A sweep's hydra.sweeper.params as {key: [values]}, each value as a job's override gives it."""
    cfg = compose(project, [f"+sweep={sweep}"], return_hydra_config=True)
    parser = OverridesParser.create()
    grid = {}
    for key, value in (cfg.hydra.sweeper.params or {}).items():
        override = parser.parse_override(f"{key}={value}")
        texts = list(override.sweep_string_iterator()) if override.is_sweep_override() else [
            override.get_value_element_as_str()]
        grid[key] = [parser.parse_override(f"{key}={text}").value() for text in texts]
    return grid


@pytest.mark.slow   # one Hydra composition per sweep and group option (~25 CPU s in all)
@pytest.mark.parametrize("project", _projects_with_configs())
def test_every_sweep_job_composes_into_its_own_resumable_folder(project):
    """Each sweep's first job composes, with every value of its grid that is not a group option (seed, lr, ratio)
    set on it, and each in a folder of its own; every group option a grid names composes in a job of the first
    sweep that names it (a sweep adds the same keys to any option: once per option keeps this test fast)."""
    seen = set()
    for sweep in sorted(p.stem for p in (CONFIG_ROOT / project / "sweep").glob("*.yaml")):
        grid = _sweep_grid(project, sweep)
        groups = {key: grid.pop(key) for key in list(grid) if is_group(project, key)}
        first = {key: options[0] for key, options in groups.items()}
        choices = [first] + [{**first, key: option} for key, options in groups.items() for option in options[1:]
                             if (key, option) not in seen]
        seen |= {(key, option) for key, options in groups.items() for option in options}
        given = {key: options[0] for key, options in grid.items()}
        values = [given] + [{**given, key: value} for key, options in grid.items() for value in options[1:]]
        folders = []
        for choice in choices:
            cfg = compose(project, [f"+sweep={sweep}", *(f"{k}={v}" for k, v in choice.items()),
                                    "paths.output_dir=/tmp/x"], return_hydra_config=True)
            for job in values if choice is first else [given]:
                job_cfg = copy.deepcopy(cfg)
                with open_dict(job_cfg):
                    for key, value in job.items():
                        OmegaConf.update(job_cfg, key, value, merge=False)
                    folders.append(f"{job_cfg.hydra.sweep.dir}/{job_cfg.hydra.sweep.subdir}")
                    assert job_cfg.hydra.output_subdir == LAUNCH_CONFIG_DIR, f"sweep={sweep} lacks sweep/base.yaml"
                    del job_cfg["hydra"]
                assert OmegaConf.to_container(job_cfg, resolve=True)["skip_finished"], f"sweep={sweep} redoes jobs"
        assert len(set(folders)) == len(folders), f"sweep={sweep}: two jobs share a run folder"
        assert not any("/multirun/" in f for f in folders), f"sweep={sweep} lacks configs/common/sweep/base.yaml"


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
