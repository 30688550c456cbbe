"""One look per method in every report figure: its own colour (tab10) and its own marker, so lines stay
apart in print and for colour-blind readers, and a method keeps its look across a report's figures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.plots import plt

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def method_style(key: str, order: Sequence[str]) -> dict[str, Any]:
    """``color`` and ``marker`` of ``key`` from its place in ``order`` (a key not in it comes after);
    10 colours x 10 markers, so the first 10 keys differ in both and the first 100 in at least one."""
    keys = list(dict.fromkeys([*order, key]))
    i = keys.index(key)
    return {"color": plt.get_cmap("tab10").colors[i % 10], "marker": MARKERS[(i + i // 10) % len(MARKERS)]}
