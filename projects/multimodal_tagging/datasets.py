"""``fashion_tags``: Fashion Product Images as a multi-label tagging dataset (image + title + category).

Each product keeps its photo, its title (``productDisplayName``) and two category levels
(``masterCategory`` -> ``industry``, ``subCategory`` -> ``category``), the stand-in for the paper's
level-1 + level-2 industry one-hot. Its multi-hot target is built from the attributes, 23 tags:

* ``gender:<v>``  Men, Women, Unisex, Boys, Girls (every product has exactly one)
* ``season:<v>``  Summer, Fall, Winter, Spring (one, except the single product with an empty season)
* ``usage:<v>``   Casual, Sports, Ethnic, Formal (usage Party / Smart Casual / NA: none of the four)
* ``colour:<v>``  the 10 most frequent baseColours of the subset: Black, White, Blue, Brown, Grey, Red,
  Green, Pink, Navy Blue, Purple (other colours: none of the ten)

``make data DATASET=fashion_tags`` writes ``splits/fashion_tags.csv`` (one row per image:
id, path, split, title, industry, category, tags joined by ``;``), ``fashion_tags.schema.json`` (tag
names and the category values seen in the train split) and ``fashion_tags.counts.json``. The split
is 70/15/15, stratified by masterCategory (seed 0).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from shared.datasets.io import read_image, require_dir
from shared.datasets.prepare import PREPARERS, stratified_split, write_split_file
from shared.datasets.registry import DATASETS, SPLITS
from shared.errors import DataError
from shared.paths import SPLITS_ROOT

NAME = "fashion_tags"
GENDERS = ("Men", "Women", "Unisex", "Boys", "Girls")
SEASONS = ("Summer", "Fall", "Winter", "Spring")
USAGES = ("Casual", "Sports", "Ethnic", "Formal")
COLOURS = ("Black", "White", "Blue", "Brown", "Grey", "Red", "Green", "Pink", "Navy Blue", "Purple")
TAGS: tuple[str, ...] = (*(f"gender:{g}" for g in GENDERS), *(f"season:{s}" for s in SEASONS),
                         *(f"usage:{u}" for u in USAGES), *(f"colour:{c}" for c in COLOURS))
REQUIRED_COLUMNS = ("id", "gender", "masterCategory", "subCategory", "baseColour", "season", "usage",
                    "productDisplayName")
HINT = "Put the Fashion Product Images subset there (see README, Data) or set ECOMVISION_DATA."


def tags_of(row: dict[str, str]) -> list[str]:
    """The tag names that are on for one metadata row (see the module docstring)."""
    candidates = (f"gender:{row['gender']}", f"season:{row['season']}", f"usage:{row['usage']}",
                  f"colour:{row['baseColour']}")
    return [t for t in candidates if t in TAGS]


def read_styles(path: Path) -> pd.DataFrame:
    """styles.csv with every column as text; DataError naming a missing file or column."""
    if not path.is_file():
        raise DataError(f"metadata file not found: {path}")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; expected {list(REQUIRED_COLUMNS)}")
    return df


def match_images_to_metadata(images: list[Path], ids: set[str], source: str) -> None:
    """Every image needs a metadata row (matched by file stem = id); DataError listing those without."""
    orphans = [p.name for p in images if p.stem not in ids]
    if orphans:
        raise DataError(f"{len(orphans)} image(s) have no metadata row in {source} (matched by file name "
                        f"without extension = id): {', '.join(orphans[:10])}{' ...' if len(orphans) > 10 else ''}")


@PREPARERS.register(NAME)
def prepare_fashion_tags(root: Path, seed: int = 0) -> dict:
    folder = require_dir(root / "fashion_products", "fashion_products", HINT)
    df = read_styles(folder / "styles.csv")
    images = sorted((folder / "images").glob("*.jpg"))
    match_images_to_metadata(images, set(df["id"]), str(folder / "styles.csv"))
    df = df[[(folder / "images" / f"{i}.jpg").is_file() for i in df["id"]]]
    df = df.sort_values("id", key=lambda s: s.astype(int)).reset_index(drop=True)
    # Stratify by masterCategory; the two tiny ones (Free Items 10, Sporting Goods 3) pooled.
    counts = df["masterCategory"].value_counts()
    strata = [m if counts[m] >= 20 else "other" for m in df["masterCategory"]]
    names = sorted(set(strata))
    splits = stratified_split([names.index(s) for s in strata], seed)
    rows = [{"id": r["id"], "path": f"images/{r['id']}.jpg", "split": sp, "title": r["productDisplayName"],
             "industry": r["masterCategory"], "category": r["subCategory"], "tags": ";".join(tags_of(r))}
            for r, sp in zip(df.to_dict("records"), splits)]
    return write_tag_split(NAME, rows)


def write_tag_split(name: str, rows: list[dict]) -> dict:
    """Write the split CSV, the schema (tags + train category values) and per-split tag counts."""
    train = [r for r in rows if r["split"] == "train"]
    schema = {"tags": list(TAGS), "industry": sorted({r["industry"] for r in train}),
              "category": sorted({r["category"] for r in train})}
    counts: dict[str, Any] = {"total": len(rows)}
    for split in SPLITS:
        part = [r for r in rows if r["split"] == split]
        per_tag = Counter(t for r in part for t in r["tags"].split(";") if t)
        counts[split] = {"images": len(part), "per_tag": {t: per_tag.get(t, 0) for t in TAGS}}
    write_split_file(f"{name}.csv", rows)
    write_split_file(f"{name}.schema.json", schema)
    write_split_file(f"{name}.counts.json", counts)
    return counts


def read_schema(name: str = NAME, splits_root: Path = SPLITS_ROOT) -> dict[str, list[str]]:
    path = splits_root / f"{name}.schema.json"
    if not path.is_file():
        raise DataError(f"tag schema not found: {path}; run `make data DATASET={name}`")
    return json.loads(path.read_text())


class TaggedProductTable(Dataset):
    """Products listed in a committed split CSV; ``records`` gives the metadata without reading images."""

    def __init__(self, folder: Path, split_file: Path, split: str, tag_names: list[str]) -> None:
        require_dir(folder, "dataset", HINT)
        if not split_file.is_file():
            raise DataError(f"split file not found: {split_file}. Run `make data DATASET={split_file.stem}`.")
        with split_file.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("path", "split", "title", "industry", "category", "tags")
                       if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{split_file}: missing column(s) {missing}")
            rows = [r for r in reader if r["split"] == split]
        if not rows:
            raise DataError(f"split {split!r} of {split_file} lists no images")
        self.folder, self.tag_names = folder, list(tag_names)
        index = {t: i for i, t in enumerate(self.tag_names)}
        self.records: list[dict[str, Any]] = []
        for r in rows:
            tags = np.zeros(len(self.tag_names), dtype=np.float32)
            for t in filter(None, r["tags"].split(";")):
                if t not in index:
                    raise DataError(f"{split_file}: tag {t!r} of {r['path']} is not in the schema")
                tags[index[t]] = 1.0
            self.records.append({"path": folder / r["path"], "title": r["title"], "industry": r["industry"],
                                 "category": r["category"], "tags": tags, "id": r.get("id") or Path(r["path"]).stem})

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        r = self.records[index]
        return {"image": read_image(r["path"]), "title": r["title"], "industry": r["industry"],
                "category": r["category"], "tags": r["tags"].copy(), "id": r["id"]}


@DATASETS.register(NAME)
def _fashion_tags(split: str, root: Path) -> TaggedProductTable:
    split_file = SPLITS_ROOT / f"{NAME}.csv"
    return TaggedProductTable(root / "fashion_products", split_file, split, read_schema(NAME)["tags"])
