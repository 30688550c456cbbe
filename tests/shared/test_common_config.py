"""The shape every project's config shares: the common run flags (declared, so a misspelt one fails),
one optim group with the same keys, and `_self_` in one place of the defaults list."""

from __future__ import annotations

import pytest
import yaml
from hydra.errors import ConfigCompositionException

from shared.config import compose
from shared.paths import CONFIG_ROOT

PROJECTS = ["classification", "multimodal_tagging", "quality", "semiseg"]
FLAGS = {"test_after_fit": True, "skip_finished": False, "resume_from_last": False, "ckpt_path": None}
OPTIM_KEYS = {"name", "lr", "weight_decay", "betas", "schedule", "warmup_steps", "poly_power"}
COMMON_FIRST = ["paths", "hydra", "trainer", "logger", "callbacks", "optim", "flags", "report_paths", "_self_"]


@pytest.mark.parametrize("project", PROJECTS)
def test_flags_are_declared_with_their_defaults_and_a_typo_fails(project: str) -> None:
    cfg = compose(project)
    assert {k: cfg[k] for k in FLAGS} == FLAGS
    assert compose(project, ["skip_finished=true"]).skip_finished is True  # no `+` needed
    with pytest.raises(ConfigCompositionException, match="skip_finishd"):
        compose(project, ["skip_finishd=true"])


@pytest.mark.parametrize("project", PROJECTS)
def test_optim_group_has_the_common_keys_and_self_follows_the_common_groups(project: str) -> None:
    assert set(compose(project).optim) >= OPTIM_KEYS
    defaults = yaml.safe_load((CONFIG_ROOT / project / "config.yaml").read_text())["defaults"]
    names = [d if isinstance(d, str) else next(iter(d)) for d in defaults]
    assert names[:len(COMMON_FIRST)] == COMMON_FIRST


@pytest.mark.parametrize(("project", "overrides", "key", "value"), [
    ("multimodal_tagging", [], "trainer.max_epochs", 30),          # config.yaml over trainer/default
    ("semiseg", [], "trainer.max_epochs", 5),
    ("semiseg", ["model=resnet18"], "optim.lr", 1e-3),              # the model's recipe over config.yaml
    ("semiseg", ["model=dinov2_small"], "optim.lr", 5e-6),
    ("quality", ["model=seed_cnn"], "optim.schedule", "constant"),
    ("quality", ["model=timm_iqa"], "optim.warmup_steps", 40),
    ("classification", ["experiment=fashion_top15"], "optim.warmup_steps", 40),  # experiment over config.yaml
    ("quality", ["model=classical"], "eval_needs_checkpoint", False),  # config.yaml over flags/default
])
def test_precedence_common_then_project_then_model_and_experiment(project, overrides, key, value) -> None:
    from omegaconf import OmegaConf

    assert OmegaConf.select(compose(project, overrides), key) == value
