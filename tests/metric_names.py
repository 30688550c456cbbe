"""The metric-naming convention of the root README ("Metric names") as a check on recorded keys."""

from __future__ import annotations

import re
from collections.abc import Iterable

STAGE = re.compile(r"^(?:(?:final|best|fit|last)/)?(?:train|val|test|all)/(?:(?:teacher|student)/)?")
METRIC = re.compile(r"^[a-z][a-z0-9_@.]*(?:/[^/]+)?$")
# Spellings the convention replaced: an F1 / precision / recall without its averaging (a per-name value,
# ``f1/<tag>``, has none), DSC for Dice, a ``_mean`` suffix on a mean, a per-name value joined with ``_``.
AVERAGED = re.compile(r"^(?:f1|precision|recall)_(?:macro|micro|weighted|binary)$")
REPLACED = re.compile(r"^(?:f1|precision|recall)_|_f1$|^dsc|_mean$")


def bad_name(name: str) -> bool:
    """``name`` = what follows the stage (``f1_macro``, ``iou/bag``, ``teacher`` already removed)."""
    first, per_name = name.split("/")[0], "/" in name
    if first in ("f1", "precision", "recall"):
        return not per_name
    return bool(REPLACED.search(first)) and not AVERAGED.match(first)


def is_metric_key(key: str) -> bool:
    """A recorded key names a metric when it has a stage (``best_checkpoint``, ``lr-AdamW/pg1``: no)."""
    return bool(re.search(r"(?:^|/)(?:train|val|test|all)/", key))


def unconventional(keys: Iterable[str]) -> list[str]:
    """The metric keys that break the convention."""
    bad = []
    for key in keys:
        if not is_metric_key(key):
            continue
        stage = STAGE.match(key)
        name = key[stage.end():] if stage else ""
        if not stage or not METRIC.match(name) or bad_name(name):
            bad.append(key)
    return bad


def assert_conventional(keys: Iterable[str]) -> None:
    bad = unconventional(keys)
    assert not bad, f"metric names outside the convention (root README, 'Metric names'): {bad}"
