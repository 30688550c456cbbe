"""Which override keys name a Hydra config group (a folder of options) rather than a plain value."""

from __future__ import annotations

from shared.paths import CONFIG_ROOT


def is_group(project: str, key: str) -> bool:
    """``key`` (e.g. ``model``, ``sweep/markers``) is a config group of ``project`` or of the common configs."""
    return (CONFIG_ROOT / project / key).is_dir() or (CONFIG_ROOT / "common" / key).is_dir()
