"""``make data DATASET=<name>``: write the seeded, committed split files of a real dataset.

Every preparer reads ``<data root>/<folder>`` (see :func:`shared.paths.data_root`) and writes its
files under ``splits/`` at the repo root (:data:`shared.paths.SPLITS_ROOT`) with
:func:`write_split_file`: a split CSV (one row per image, with its split) and its tables (class list,
tag schema, counts, ...). Preparers are registered where their dataset is defined (see
:mod:`shared.datasets.registry`). Re-running with the same seed rewrites the same bytes, so a diff
shows any change of the source data.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sklearn.model_selection import train_test_split

from shared.errors import ConfigError, EcomvisionError
from shared.files import write_atomic, write_csv_atomic
from shared.paths import SPLITS_ROOT, data_root
from shared.registry import Registry

PREPARERS: Registry = Registry("dataset preparer")


def write_split_file(path: str | Path, content: Any, header: Sequence[str] | None = None) -> Path:
    """One committed split file, written atomically; its suffix says its layout (a relative ``path`` is
    under :data:`~shared.paths.SPLITS_ROOT`):

    * ``.csv``:  ``content`` is rows: mappings (the header is the first row's keys) or sequences under ``header``;
    * ``.json``: ``content`` is dumped with an indent of 2;
    * ``.txt``:  ``content`` is lines (class names, image ids).

    Every file ends with one newline and uses ``\\n`` line ends, so a re-run rewrites the same bytes."""
    path = Path(path)
    path = path if path.is_absolute() else SPLITS_ROOT / path
    if path.suffix == ".csv":
        rows = list(content)
        if rows and isinstance(rows[0], Mapping):
            header = list(header or rows[0].keys())
            rows = [[row[key] for key in header] for row in rows]
        if header is None:
            raise ConfigError(f"{path}: rows without keys need a header")
        return write_csv_atomic(path, list(header), rows, lineterminator="\n")
    if path.suffix == ".json":
        return write_atomic(path, lambda f: f.write(json.dumps(content, indent=2) + "\n"))
    if path.suffix == ".txt":
        return write_atomic(path, lambda f: f.write("\n".join(content) + "\n"))
    raise ConfigError(f"{path}: split files are .csv, .json or .txt")


def stratified_split(labels: list[int], seed: int, val: float = 0.15, test: float = 0.15) -> list[str]:
    """Split indices into train/val/test keeping class proportions; returns the split name per index."""
    idx = list(range(len(labels)))
    rest, test_idx = train_test_split(idx, test_size=test, stratify=labels, random_state=seed)
    rest_labels = [labels[i] for i in rest]
    train_idx, val_idx = train_test_split(rest, test_size=val / (1 - test), stratify=rest_labels,
                                          random_state=seed)
    out = [""] * len(labels)
    for name, part in (("train", train_idx), ("val", val_idx), ("test", test_idx)):
        for i in part:
            out[i] = name
    return out


def main(argv: list[str]) -> int:
    from shared.datasets.registry import discover

    discover()
    # Run as ``python -m shared.datasets.prepare`` this file is ``__main__``: use the registry that the
    # discovered modules (e.g. shared/datasets/ccp.py, projects/<p>/datasets.py) registered into.
    from shared.datasets.prepare import PREPARERS
    if not argv or argv[0] in ("", "-h", "--help"):
        print(f"usage: make data DATASET=<name>   (names: {', '.join(PREPARERS.names())})")
        return 2
    name, extra = argv[0], dict(a.split("=", 1) for a in argv[1:])
    try:
        counts = PREPARERS.get(name)(data_root(extra.pop("root", None)), **{k: int(v) for k, v in extra.items()})
    except EcomvisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{s} {counts[s]['images']}" for s in ("train", "val", "test") if s in counts)
    print(f"{name}: {counts.get('total', '?')} images ({summary}) -> {SPLITS_ROOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
