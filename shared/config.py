"""Hydra/OmegaConf glue: per-project config roots, the shared groups, composition for tools and tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from shared.errors import ConfigError
from shared.paths import COMMON_CONFIGS, CONFIG_ROOT, PROJECTS, REPO_ROOT

if not OmegaConf.has_resolver("repo"):
    OmegaConf.register_new_resolver("repo", lambda: str(REPO_ROOT))
if not OmegaConf.has_resolver("folder_name"):
    # ${folder_name:${data.root}}: a user's data folder names its runs and W&B groups ("/data/my_shoes/" -> my_shoes)
    OmegaConf.register_new_resolver("folder_name", lambda path: Path(str(path)).expanduser().resolve().name or "data")
if not OmegaConf.has_resolver("ratio"):
    # ${ratio:${data.labeled_ratio}}: a label ratio in any spelling ("1_64", 1/64, 0.015625) as a float
    OmegaConf.register_new_resolver("ratio", lambda value: float(_label_ratio(value)))


def _label_ratio(value: Any) -> Any:
    from shared.datasets.label_ratio import parse_label_ratio

    return parse_label_ratio(value, "data.labeled_ratio")


def plain_dict(cfg: DictConfig | Mapping[str, Any] | None) -> dict[str, Any]:
    """A config node as a plain, resolved ``dict`` (``None`` -> ``{}``): what a LightningModule saves as
    hyper-parameters and what a factory takes as keyword arguments."""
    if cfg is None:
        return {}
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg)


def project_config_dir(project: str) -> Path:
    """configs/<project>; a clear error for an unknown name or a project without configs."""
    if project not in PROJECTS:
        raise ConfigError(f"unknown project {project!r}; choose one of: {', '.join(PROJECTS)} "
                          f"(e.g. make train PROJECT=classification)")
    path = CONFIG_ROOT / project
    if not (path / "config.yaml").is_file():
        raise ConfigError(f"project {project!r} has no configs yet ({path}/config.yaml missing)")
    return path


def searchpath_override() -> str:
    """Shared groups (trainer, logger, callbacks, paths, hydra, debug) live in configs/common."""
    return f"hydra.searchpath=[file://{COMMON_CONFIGS}]"


def compose(project: str, overrides: Sequence[str] = (), task: str = "train",
            return_hydra_config: bool = False) -> DictConfig:
    """Compose a project's config outside a Hydra run (tests, benchmarks, notebooks)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(project_config_dir(project)), version_base="1.3"):
        return hydra_compose("config", overrides=[f"task={task}", *overrides, searchpath_override()],
                             return_hydra_config=return_hydra_config)
