"""Dataset registry: every dataset is created by name (``create_dataset("fashion_top15", split="train")``).

A dataset is registered where it is defined (as timm registers models): in a module of
``shared.datasets`` when several projects read it (``synthetic``, ``ccp``), else in its project's
``projects/<project>/datasets.py`` (``fashion_top15`` in classification, ``fashion_tags`` in
multimodal_tagging, ``quality_bench`` in quality). :func:`discover` imports both places, so
``create_dataset`` and ``make data`` find every name.

A dataset returns plain samples, dicts of numpy arrays and python values (``image`` always, and
``label`` / ``mask`` / ``title`` / ``tags`` / ``industry`` where the dataset has them). Transforms
and tensor conversion happen in :class:`shared.datasets.transformed.TransformedDataset`, so the same
dataset serves every project.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from torch.utils.data import Dataset

from shared.config import plain_dict
from shared.errors import ConfigError
from shared.paths import PROJECTS, data_root
from shared.registry import Registry

DATASETS: Registry = Registry("dataset")
SPLITS = ("train", "val", "test")
PROJECT_MODULE = "datasets"  # projects/<project>/datasets.py registers that project's own datasets


def discover() -> None:
    """Import every module of ``shared.datasets`` and every ``projects/<project>/datasets.py``, so that
    all datasets and preparers are registered."""
    import shared.datasets as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"shared.datasets.{info.name}")
    for project in PROJECTS:
        name = f"projects.{project}.{PROJECT_MODULE}"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def create_dataset(name: str, split: str, root: str | Path | None = None, **options: Any) -> Dataset:
    discover()
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; expected one of {SPLITS}")
    return DATASETS.get(name)(split=split, root=data_root(root), **options)


def dataset_from_config(data: DictConfig | Mapping[str, Any], split: str, **extra: Any) -> Dataset:
    """The dataset a ``data`` config names (``dataset``, optional ``root`` and ``options``) for ``split``;
    ``extra`` adds options (e.g. semiseg's ``part``). How every datamodule turns its config into data."""
    options = {**plain_dict(data.get("options")), **extra}
    return create_dataset(data["dataset"], split, root=data.get("root"), **options)
