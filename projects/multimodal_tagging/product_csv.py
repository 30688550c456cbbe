"""A user's own products as one CSV (``data=csv data.csv=/path/products.csv``).

One row per product: ``image`` (a path relative to the CSV's folder, or absolute), ``title``, ``tags``
(joined by ``data.tag_separator``; empty = not tagged), optionally ``industry``, ``category`` and
``split`` (train / val / test). The tag vocabulary is every tag the rows carry (sorted) unless
``data.tags`` lists it; the category levels likewise (``data.industries`` / ``data.categories``).

Rows with tags are precise labels; rows without tags are the unlabelled pool the weak labels (title +
KNN) fill, so they always belong to train. Without a ``split`` column the tagged rows are split with a
seed, stratified by industry (:func:`seeded_split`), and the split is written into the run folder as a
copy of the CSV with absolute image paths and a ``split`` column (:func:`write_split`), which
``make eval data.csv=<run>/split.csv`` scores on its held-out test rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from shared.datasets.io import read_image
from shared.errors import ConfigError, DataError
from shared.files import write_csv_atomic

REQUIRED = ("image", "title", "tags")
OPTIONAL = ("industry", "category", "split")
SPLIT_NAMES = {"train": "train", "val": "val", "validation": "val", "test": "test", "": ""}
SPLIT_FILE = "split.csv"


@dataclass
class ProductTable:
    """The parsed CSV: one entry per row, images as absolute paths."""

    source: Path
    images: list[Path]
    titles: list[str]
    tags: list[list[str]]       # [] = the row carries no tags
    industry: list[str]
    category: list[str]
    split: list[str]            # "" where the CSV names no split
    has_split_column: bool

    def __len__(self) -> int:
        return len(self.images)

    @property
    def tagged(self) -> np.ndarray:
        return np.array([bool(t) for t in self.tags], dtype=bool)


def column_names(data: Mapping[str, Any]) -> dict[str, str]:
    """Logical column -> the CSV's header name (``data.columns`` renames; e.g. ``{image: photo}``)."""
    names = {c: c for c in (*REQUIRED, *OPTIONAL)}
    names.update({str(k): str(v) for k, v in dict(data.get("columns") or {}).items()})
    unknown = sorted(set(names) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ConfigError(f"data.columns names unknown column(s) {unknown}; known: {[*REQUIRED, *OPTIONAL]}")
    return names


def read_products(data: Mapping[str, Any], need_tags: bool = True) -> ProductTable:
    """The CSV ``data.csv`` as a :class:`ProductTable`; one-line DataError for a missing file or column
    (``need_tags=False``: products to predict, a ``tags`` column is optional)."""
    if not data.get("csv"):
        raise ConfigError("data=csv needs the products file: pass data.csv=/path/products.csv")
    path = Path(str(data["csv"])).expanduser().resolve()
    if not path.is_file():
        raise DataError(f"products CSV not found: {path} (data.csv)")
    columns = column_names(data)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot read {path} as CSV: {str(exc).splitlines()[0]}") from None
    missing = [columns[c] for c in REQUIRED if columns[c] not in df.columns and (need_tags or c != "tags")]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing} (columns: {list(df.columns)}); a products CSV has "
                        f"image, title{', tags' if need_tags else ''} (optional: industry, category, split), or "
                        f"set data.columns")
    if df.empty:
        raise DataError(f"{path} lists no products")
    separator = str(data.get("tag_separator") or ";")
    root = path.parent
    images = [p if p.is_absolute() else root / p for p in (Path(v.strip()) for v in df[columns["image"]])]
    cells = df[columns["tags"]] if columns["tags"] in df.columns else [""] * len(df)
    tags = [sorted({t.strip() for t in v.split(separator) if t.strip()}) for v in cells]

    def optional(name: str) -> list[str]:
        return [v.strip() for v in df[columns[name]]] if columns[name] in df.columns else [""] * len(df)

    has_split = columns["split"] in df.columns
    split = []
    for row, value in enumerate(optional("split"), start=2):
        if value.lower() not in SPLIT_NAMES:
            raise DataError(f"{path} line {row}: split {value!r} is not train, val or test")
        split.append(SPLIT_NAMES[value.lower()])
    return ProductTable(path, images, [str(t) for t in df[columns["title"]]], tags, optional("industry"),
                        optional("category"), split, has_split)


def vocabulary(table: ProductTable, configured: Sequence[str] | None = None) -> list[str]:
    """``configured`` (checked against the rows), or every tag the rows carry, sorted."""
    found = sorted({t for tags in table.tags for t in tags})
    if configured is None:
        if not found:
            raise DataError(f"{table.source}: no row carries tags; tag at least a few products (column tags)")
        return found
    names = [str(t) for t in configured]
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise DataError(f"{table.source}: tag(s) {unknown[:8]} are not among the model's tags (data.tags: "
                        f"{names[:8]}{' ...' if len(names) > 8 else ''}); drop them from the CSV or re-train")
    return names


def levels(values: Sequence[str], configured: Sequence[str] | None = None) -> list[str]:
    """A category level's values: ``configured``, or the non-empty values of the rows, sorted."""
    return [str(v) for v in configured] if configured is not None else sorted({v for v in values if v})


def seeded_split(strata: Sequence[str], val: float, test: float, seed: int) -> list[str]:
    """train / val / test per item, stratified by ``strata``: items are ranked by their (shuffled) position
    within their stratum, so the first ``test`` share and the next ``val`` share take every stratum in
    proportion. Needs at least three items (one each)."""
    n = len(strata)
    if n < 3:
        raise DataError(f"a split needs at least 3 tagged products (one each for train, val, test), got {n}")
    rng = np.random.default_rng(seed)
    rank = np.empty(n)
    for value in sorted(set(strata)):
        members = rng.permutation([i for i, s in enumerate(strata) if s == value])
        rank[members] = (np.arange(len(members)) + rng.random()) / len(members)
    order = np.argsort(rank, kind="stable")
    n_test = max(1, round(n * test))
    n_val = max(1, round(n * val))
    if n_test + n_val >= n:
        raise DataError(f"{n} tagged products leave none for training at val={val}, test={test}; tag more products "
                        f"or lower data.split.val / data.split.test")
    out = ["train"] * n
    for i in order[:n_test]:
        out[i] = "test"
    for i in order[n_test:n_test + n_val]:
        out[i] = "val"
    return out


def assign_splits(table: ProductTable, val: float, test: float, seed: int) -> list[str]:
    """The split of every row: the CSV's own where it has a ``split`` column (an empty cell is train),
    else seeded (:func:`seeded_split`) over the tagged rows, untagged rows always train."""
    tagged = table.tagged
    if table.has_split_column:
        split = [s or "train" for s in table.split]
        bad = [i for i, s in enumerate(split) if s != "train" and not tagged[i]]
        if bad:
            raise DataError(f"{table.source} line {bad[0] + 2}: a {split[bad[0]]} row needs tags (only train rows "
                            f"may be untagged: they get weak labels)")
    else:
        index = np.flatnonzero(tagged)
        drawn = seeded_split([table.industry[i] for i in index], val, test, seed)
        split = ["train"] * len(table)
        for i, s in zip(index, drawn):
            split[i] = s
    for name in ("train", "val", "test"):
        if name not in split:
            raise DataError(f"{table.source}: the {name} split is empty; give it rows (split column) or tag more "
                            f"products")
    return split


def write_split(table: ProductTable, split: Sequence[str], path: Path, separator: str) -> Path:
    """The CSV as trained on: absolute image paths, every row's split (``make eval data.csv=<this file>``)."""
    rows = [[str(img), title, separator.join(tags), ind, cat, s] for img, title, tags, ind, cat, s in
            zip(table.images, table.titles, table.tags, table.industry, table.category, split)]
    return write_csv_atomic(path, ["image", "title", "tags", "industry", "category", "split"], rows,
                            lineterminator="\n")


class ProductRows(Dataset):
    """The rows of one split; ``records`` gives the metadata (title, levels, multi-hot tags) without images."""

    def __init__(self, table: ProductTable, rows: Sequence[int], tag_names: Sequence[str]) -> None:
        index = {t: i for i, t in enumerate(tag_names)}
        self.records: list[dict[str, Any]] = []
        for i in rows:
            tags = np.zeros(len(index), dtype=np.float32)
            tags[[index[t] for t in table.tags[i]]] = 1.0
            self.records.append({"path": table.images[i], "title": table.titles[i], "industry": table.industry[i],
                                 "category": table.category[i], "tags": tags, "tagged": bool(table.tags[i])})
        missing = [str(r["path"]) for r in self.records if not r["path"].is_file()]
        if missing:
            raise DataError(f"{len(missing)} image(s) listed in {table.source} not found: {', '.join(missing[:5])}"
                            f"{' ...' if len(missing) > 5 else ''} (paths are relative to the CSV's folder)")

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        r = self.records[index]
        return {"image": read_image(r["path"]), "title": r["title"], "industry": r["industry"],
                "category": r["category"], "tags": r["tags"].copy()}
