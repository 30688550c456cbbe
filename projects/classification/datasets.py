"""Classification's datasets and preparers: ``fashion_top15`` and ``clothing_small`` (images with one
class label each, listed in a committed split CSV under ``splits/``).

``make data DATASET=<name>`` writes ``splits/<name>.csv`` (columns ``path``, ``label``, ``split``
[, ``title``]), ``<name>.classes.txt`` and ``<name>.counts.json`` (images per split and class).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
from torch.utils.data import Dataset

from shared.datasets.io import read_image, require_dir
from shared.datasets.prepare import PREPARERS, stratified_split, write_split_file
from shared.datasets.registry import DATASETS, SPLITS
from shared.errors import DataError
from shared.paths import SPLITS_ROOT


class ImageLabelTable(Dataset):
    """Images listed in a committed split CSV (columns ``path``, ``label``, ``split``) under a data folder."""

    def __init__(self, folder: Path, split_file: Path, split: str, classes: list[str], hint: str) -> None:
        require_dir(folder, "dataset", hint)
        if not split_file.is_file():
            raise DataError(f"split file not found: {split_file}. {hint}")
        self.folder, self.classes = folder, classes
        with split_file.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["split"] == split]
        if not rows:
            raise DataError(f"split {split!r} of {split_file} lists no images")
        self.items: list[tuple[Path, int, str]] = []
        for r in rows:
            label = int(r["label"])
            if not 0 <= label < len(classes):
                raise DataError(f"{split_file}: label {label} of {r['path']} outside the class range "
                                f"[0, {len(classes)})")
            self.items.append((folder / r["path"], label, r.get("title", "")))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path, label, title = self.items[index]
        return {"image": read_image(path), "label": label, "title": title, "id": path.stem}


def read_classes(split_file: Path) -> list[str]:
    classes_file = split_file.with_suffix(".classes.txt")
    if not classes_file.is_file():
        raise DataError(f"class list not found: {classes_file}; run `make data DATASET={split_file.stem}`")
    return [line.strip() for line in classes_file.read_text().splitlines() if line.strip()]


def write_labelled_split(name: str, rows: list[dict], classes: list[str]) -> dict:
    """Write rows (each with path/label/split) + class list + counts; return the counts."""
    counts: dict = {"total": len(rows)}
    for split in SPLITS:
        per_class = Counter(classes[int(r["label"])] for r in rows if r["split"] == split)
        counts[split] = {"images": sum(per_class.values()), "per_class": {c: per_class.get(c, 0) for c in classes}}
    write_split_file(f"{name}.csv", rows)
    write_split_file(f"{name}.classes.txt", classes)
    write_split_file(f"{name}.counts.json", counts)
    return counts


@DATASETS.register("fashion_top15")
def _fashion_top15(split: str, root: Path) -> ImageLabelTable:
    split_file = SPLITS_ROOT / "fashion_top15.csv"
    hint = "Put the Fashion Product Images subset there (see README, Data) or set ECOMVISION_DATA."
    return ImageLabelTable(root / "fashion_products", split_file, split, read_classes(split_file), hint)


@DATASETS.register("clothing_small")
def _clothing_small(split: str, root: Path) -> ImageLabelTable:
    split_file = SPLITS_ROOT / "clothing_small.csv"
    hint = "Put the clothing-dataset-small copy there (see README, Data) or set ECOMVISION_DATA."
    return ImageLabelTable(root / "clothing_small", split_file, split, read_classes(split_file), hint)


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
    return write_labelled_split("fashion_top15", rows, classes)


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
    return write_labelled_split("clothing_small", rows, classes)
