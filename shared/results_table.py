"""The short results table printed at the end of ``make train`` and ``make eval``, before W&B's own
(alphabetical, truncated) summary: the test metrics of the final weights and of the val-selected
checkpoint side by side, and where metrics.json holds every number."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

# (results prefix, column title) for train (final weights, val-selected checkpoint) and eval.
TRAIN_COLUMNS = (("final/", "final weights"), ("best/", "val-selected"))
EVAL_COLUMNS = (("test/", "test"),)


def _number(value: Any) -> float | None:
    """A scalar metric as a float (tensors included); None for a path or any other text."""
    if isinstance(value, str | bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def results_table(results: Mapping[str, Any], metrics_path: Path, columns=TRAIN_COLUMNS) -> str:
    """The table as text: one row per test metric (per-class values are only counted), one column per
    entry of ``columns`` present."""
    present = [(prefix, title) for prefix, title in columns if any(k.startswith(prefix) for k in results)]
    rows: dict[str, dict[str, float]] = {}
    detailed: set[str] = set()
    for prefix, _ in present:
        for key, value in results.items():
            number = _number(value)
            if key.startswith(prefix) and number is not None:
                name = key[len(prefix):]
                name = name[len("test/"):] if name.startswith("test/") else name
                if name.count("/") > 1:   # per class (student/iou/bag): metrics.json has them
                    detailed.add(name)
                    continue
                rows.setdefault(name, {})[prefix] = number
    lines = ["results on the test split:" if rows else "results: no test metrics (test_after_fit=false?)"]
    if rows:
        width = max(len(name) for name in rows) + 2
        lines.append(" " * (width + 2) + "".join(f"{title:>16}" for _, title in present))
        for name in sorted(rows):
            cells = "".join(f"{rows[name][p]:>16.4f}" if p in rows[name] else f"{'-':>16}" for p, _ in present)
            lines.append(f"  {name:<{width}}{cells}")
    best = results.get("best_checkpoint")
    if best:
        lines.append(f"  val-selected checkpoint: {best}")
    per_class = f" (with {len(detailed)} per-class values)" if detailed else ""
    lines.append(f"  every number{per_class}: {metrics_path}")
    return "\n".join(lines)


def print_results_table(results: Mapping[str, Any], metrics_path: Path, columns=TRAIN_COLUMNS) -> None:
    print(results_table(results, metrics_path, columns), flush=True)
