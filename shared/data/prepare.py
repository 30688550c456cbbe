"""``make data DATASET=<name>``: write the seeded, committed split file of a real dataset.

Every preparer reads ``<data root>/<folder>`` (see :func:`shared.paths.data_root`) and writes
``shared/data/splits/<name>.csv`` (one row per image, with its split), ``<name>.classes.txt`` and
``<name>.counts.json`` (images per split and class). Re-running with the same seed rewrites the
same bytes, so a diff shows any change of the source data.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from shared.data.io import require_dir
from shared.errors import DataError, EcomvisionError
from shared.paths import SPLITS_ROOT, data_root
from shared.registry import Registry

PREPARERS: Registry = Registry("dataset preparer")


def write_split(name: str, rows: list[dict], classes: list[str], out_dir: Path = SPLITS_ROOT) -> dict:
    """Write rows (each with path/label/split) + class list + counts; return the counts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = list(rows[0].keys())
    with (out_dir / f"{name}.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / f"{name}.classes.txt").write_text("\n".join(classes) + "\n")
    counts: dict = {"total": len(rows)}
    for split in ("train", "val", "test"):
        per_class = Counter(classes[int(r["label"])] for r in rows if r["split"] == split)
        counts[split] = {"images": sum(per_class.values()), "per_class": {c: per_class.get(c, 0) for c in classes}}
    (out_dir / f"{name}.counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    return counts


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


@PREPARERS.register("fashion_top15")
def prepare_fashion_top15(root: Path, seed: int = 0, top_k: int = 15) -> dict:
    """The 15 most frequent articleTypes of the staged Fashion Product Images subset, 70/15/15 stratified."""
    folder = require_dir(root / "fashion_products", "fashion_products")
    styles = folder / "styles.csv"
    if not styles.is_file():
        raise DataError(f"metadata file not found: {styles}")
    df = pd.read_csv(styles, dtype={"id": str}, keep_default_na=False)
    df = df[[(folder / "images" / f"{i}.jpg").is_file() for i in df["id"]]]
    counts = df["articleType"].value_counts()
    # Ties broken by name so the choice is deterministic.
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
    classes = sorted(name for name, _ in ranked)
    df = df[df["articleType"].isin(classes)].sort_values("id", key=lambda s: s.astype(int))
    labels = [classes.index(a) for a in df["articleType"]]
    splits = stratified_split(labels, seed)
    rows = [{"path": f"images/{i}.jpg", "label": lab, "split": sp, "title": t}
            for i, lab, sp, t in zip(df["id"], labels, splits, df["productDisplayName"])]
    return write_split("fashion_top15", rows, classes)


@PREPARERS.register("clothing_small")
def prepare_clothing_small(root: Path, seed: int = 0) -> dict:
    """The upstream fixed train/validation/test split, kept as is (``seed`` unused: nothing is random)."""
    folder = require_dir(root / "clothing_small", "clothing_small")
    index = folder / "index.csv"
    if not index.is_file():
        raise DataError(f"index file not found: {index}")
    df = pd.read_csv(index)
    classes = sorted(df["label"].unique())
    split_name = {"train": "train", "validation": "val", "test": "test"}
    rows = [{"path": p, "label": classes.index(lab), "split": split_name[s]}
            for p, lab, s in zip(df["path"], df["label"], df["split"])]
    return write_split("clothing_small", rows, classes)


def main(argv: list[str]) -> int:
    from shared.data.datasets import discover

    discover()
    # Run as ``python -m shared.data.prepare`` this file is ``__main__``: use the registry that the
    # auto-discovered modules (e.g. shared/data/ccp.py) registered into.
    from shared.data.prepare import PREPARERS
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
    print(f"{name}: {counts.get('total', '?')} images ({summary}) -> {SPLITS_ROOT}/{name}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
