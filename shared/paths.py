"""Where things live: the repo, its configs, and the real-data root."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_ROOT = REPO_ROOT / "configs"
COMMON_CONFIGS = CONFIG_ROOT / "common"
# The committed split files (`make data`), at the repo root; $ECOMVISION_SPLITS points the readers at another
# copy of them (a carried subset, e.g. the GPU bench).
SPLITS_ROOT = Path(os.environ.get("ECOMVISION_SPLITS") or REPO_ROOT / "splits")
BENCH_RESULTS = REPO_ROOT / "benchmarks" / "results"
PROJECTS = ("semiseg", "variational_seg", "multimodal_tagging", "classification", "quality")


def data_root(configured: str | os.PathLike | None = None) -> Path:
    """The real-data root: explicit value, then $ECOMVISION_DATA, then ../shared/data beside the repo."""
    if configured:
        return Path(configured).expanduser().resolve()
    env = os.environ.get("ECOMVISION_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return (REPO_ROOT.parent / "shared" / "data").resolve()
