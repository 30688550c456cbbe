"""What a tagging dataset provides: tag names and the two category levels (the "industry" one-hot).

The schema is fixed before training (synthetic: the generator's constants; real data: the committed
``splits/<name>.schema.json``; a user's CSV: the tags and category values its rows carry, or the lists
``data.tags`` / ``data.industries`` / ``data.categories`` give) and stored in every checkpoint, so a
model can encode the categories of new products at inference. A value never seen in training maps to the explicit
``<unknown>`` slot of its level instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from shared.errors import ConfigError

UNKNOWN = "<unknown>"


@dataclass(frozen=True)
class TagSchema:
    tags: tuple[str, ...]
    industry: tuple[str, ...]   # level 1 (masterCategory / synthetic industry group)
    category: tuple[str, ...]   # level 2 (subCategory / synthetic product category)

    @classmethod
    def from_dict(cls, d: dict) -> TagSchema:
        return cls(tuple(d["tags"]), tuple(d["industry"]), tuple(d["category"]))

    def to_dict(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in asdict(self).items()}

    @property
    def num_tags(self) -> int:
        return len(self.tags)

    @property
    def industry_dim(self) -> int:
        """Level-1 values + unknown, then level-2 values + unknown, concatenated."""
        return len(self.industry) + 1 + len(self.category) + 1

    def encode_industry(self, industry: str, category: str) -> np.ndarray:
        """The concatenated one-hot of one product; unseen values light the level's unknown slot."""
        out = np.zeros(self.industry_dim, dtype=np.float32)
        i = self.industry.index(industry) if industry in self.industry else len(self.industry)
        c = self.category.index(category) if category in self.category else len(self.category)
        out[i] = 1.0
        out[len(self.industry) + 1 + c] = 1.0
        return out


def schema_for(dataset: str, data: Mapping[str, Any] | None = None) -> TagSchema:
    """The schema of a registry dataset by name, or of the user's CSV (``dataset: csv``) that ``data`` names."""
    if dataset == "csv":
        return csv_schema(data or {})
    if dataset == "synthetic":
        from shared.datasets.synthetic import CATEGORIES, INDUSTRIES, TAGS

        return TagSchema(tuple(TAGS), tuple(INDUSTRIES), tuple(CATEGORIES))
    from projects.multimodal_tagging.datasets import read_schema
    from shared.datasets.registry import discover

    discover()
    try:
        return TagSchema.from_dict(read_schema(dataset))
    except KeyError as exc:
        raise ConfigError(f"schema of dataset {dataset!r} lacks {exc}") from exc


def csv_schema(data: Mapping[str, Any]) -> TagSchema:
    """The configured lists where given (eval and predict: the checkpoint's), else what the CSV's rows carry."""
    from projects.multimodal_tagging.product_csv import levels, read_products, vocabulary

    tags, industries, categories = (data.get(k) for k in ("tags", "industries", "categories"))
    if tags is not None and industries is not None and categories is not None:
        return TagSchema(tuple(map(str, tags)), tuple(map(str, industries)), tuple(map(str, categories)))
    table = read_products(data)
    return TagSchema(tuple(vocabulary(table, tags)), tuple(levels(table.industry, industries)),
                     tuple(levels(table.category, categories)))
