"""The tagging datamodule: images + cached title token states + industry one-hot (+ precise tags),
the seeded choice of precisely-labelled train items, and the title-parsed weak labels.

The frozen text encoder runs once per split over the titles (cached on disk under
``text.cache_dir``), so an epoch costs only the image encoder and the fusion layers.

Which train items are precise: ``weak.precise_fraction`` of the items that carry tags (a built-in data
set: every item, so the fraction simulates fewer labels as the paper does; a user's CSV: its tagged
rows, all of them by default). Every other train item is weak-labelled from its title and by KNN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset

from projects.multimodal_tagging.product_csv import SPLIT_FILE, ProductRows, assign_splits, read_products, write_split
from projects.multimodal_tagging.schema import TagSchema, schema_for
from projects.multimodal_tagging.text import encode_titles_cached, l2_normalise
from projects.multimodal_tagging.weak.labels import WeakTable
from projects.multimodal_tagging.weak.title import TitleParser
from shared.augment import build_transforms
from shared.datasets.datamodule import ImageDataModule
from shared.datasets.registry import SPLITS
from shared.datasets.transformed import SampleKey, seeded, split_key
from shared.errors import DataError


def read_metadata(raw: Dataset, name: str) -> dict[str, Any]:
    """Titles, category levels and tags of every item (from ``records`` when the dataset has them,
    else from the samples themselves, e.g. the synthetic generator)."""
    records = getattr(raw, "records", None)
    if records is None:
        classes = getattr(raw, "classes", [])
        records = []
        for i in range(len(raw)):  # type: ignore[arg-type]
            s = raw[i]
            records.append({**s, "category": s.get("category", classes[s["label"]] if "label" in s else "")})
    for key in ("title", "industry", "category", "tags"):
        if records and key not in records[0]:
            raise DataError(f"dataset {name!r} gives no {key!r} per item; the tagger needs title, industry, "
                            f"category and tags")
    return {"titles": ["" if r["title"] is None else str(r["title"]) for r in records],
            "industry": [str(r["industry"]) for r in records], "category": [str(r["category"]) for r in records],
            "tags": np.stack([np.asarray(r["tags"], dtype=np.float32) for r in records]),
            "tagged": np.array([bool(r.get("tagged", True)) for r in records], dtype=bool)}


class TaggingDataset(Dataset):
    def __init__(self, raw: Dataset, transform, tokens: torch.Tensor, mask: torch.Tensor, industry: np.ndarray,
                 tags: np.ndarray | None, image_size: int, use_image: bool = True) -> None:
        self.raw, self.transform, self.tokens, self.mask = raw, transform, tokens, mask
        self.industry = torch.from_numpy(industry)
        self.tags = None if tags is None else torch.from_numpy(tags)
        self.image_size, self.use_image = image_size, use_image

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        index, seed = split_key(key)  # the seeded train sampler gives each draw its augmentation seed
        if self.use_image:
            image = seeded(self.transform, seed)(image=self.raw[index]["image"])["image"]
        else:  # text/industry-only models never decode images
            image = torch.zeros(3, self.image_size, self.image_size)
        out = {"image": image, "text_tokens": self.tokens[index], "text_mask": self.mask[index],
               "industry": self.industry[index], "index": index}
        if self.tags is not None:
            out["tags"] = self.tags[index]
        return out


class TaggingDataModule(ImageDataModule):
    """The shared datamodule's loaders over tagging datasets (image, title tokens, industry, tags)."""

    def __init__(self, data: DictConfig | dict, text: DictConfig | dict, weak: DictConfig | dict,
                 use_image: bool = True, cache_dir: str | None = None, seed: int = 0,
                 split_dir: str | None = None) -> None:
        """``split_dir``: where a CSV's seeded split is written (the run folder), never the repo's splits/."""
        super().__init__(data, seed=seed)
        self.text = OmegaConf.create(text) if isinstance(text, dict) else text
        self.weak_cfg = OmegaConf.create(weak) if isinstance(weak, dict) else weak
        self.use_image, self.cache_dir, self.split_dir = use_image, cache_dir, split_dir
        self.weak: WeakTable | None = None
        self.schema: TagSchema = schema_for(self.cfg.dataset, self.cfg)
        self.tag_names = self.classes = list(self.schema.tags)
        self.csv_rows: dict[str, ProductRows] = {}

    def prepare_data(self) -> None:
        """Fail fast (missing folder/split file/columns/images) before the Trainer starts."""
        if self.cfg.dataset == "csv":
            if not self.csv_rows:   # once (the Trainer calls this again)
                self._read_csv()
            return
        for split in self.splits:
            self._raw(split)

    def _raw(self, split: str) -> Dataset:
        return self.csv_rows[split] if self.cfg.dataset == "csv" else super()._raw(split)

    def _read_csv(self) -> None:
        """The CSV's rows per split. ``make eval`` (test only): the rows of its ``split`` column's test part,
        or, without that column, every tagged row. Training: :func:`assign_splits`, written to ``split_dir``."""
        table = read_products(self.cfg)
        if self.splits == ("test",):
            rows = [i for i in range(len(table)) if not table.has_split_column or table.split[i] == "test"]
            untagged = [i for i in rows if not table.tags[i]]
            if untagged:
                print(f"{table.source}: {len(untagged)} row(s) without tags left out of the test set (nothing "
                      f"to score them against)")
            rows = [i for i in rows if table.tags[i]]
            if not rows:
                raise DataError(f"{table.source}: no tagged {'test ' if table.has_split_column else ''}rows to score")
            self.csv_rows = {"test": ProductRows(table, rows, self.tag_names)}
            return
        cfg = self.cfg.get("split") or {}
        split = assign_splits(table, float(cfg.get("val", 0.15)), float(cfg.get("test", 0.15)),
                              int(cfg.get("seed", 0)))
        if self.split_dir:
            path = write_split(table, split, Path(self.split_dir) / SPLIT_FILE, str(self.cfg.get("tag_separator")
                                                                                 or ";"))
            counts = ", ".join(f"{name} {split.count(name)}" for name in SPLITS)
            print(f"[data] {table.source.name}: {len(table)} products ({int(table.tagged.sum())} tagged), "
                  f"{len(self.tag_names)} tags; split {counts} -> {path}")
        self.csv_rows = {name: ProductRows(table, [i for i, s in enumerate(split) if s == name], self.tag_names)
                         for name in SPLITS}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        if self.cfg.dataset == "csv":
            self.prepare_data()
        size = int(self.cfg.image_size)
        for split in self.splits:
            raw = self._raw(split)
            meta = read_metadata(raw, self.cfg.dataset)
            tokens, mask, pooled = encode_titles_cached(meta["titles"], self.text.get("path"),
                                                        int(self.text.max_length), str(self.text.pooling),
                                                        self.cache_dir)
            industry = np.stack([self.schema.encode_industry(i, c) for i, c in zip(meta["industry"], meta["category"])])
            view = "weak" if split == "train" else "eval"
            tags = None if split == "train" else meta["tags"]  # train targets come from the weak table only
            self.datasets[split] = TaggingDataset(raw, build_transforms(view, size, seed=self.seed), tokens, mask,
                                                  industry, tags, size, self.use_image)
            if split == "train":
                self.datasets["train_eval"] = TaggingDataset(raw, build_transforms("eval", size), tokens, mask,
                                                             industry, None, size, self.use_image)
                self.weak = self._weak_table(meta, pooled.numpy(), industry)

    def _weak_table(self, meta: dict[str, Any], pooled: np.ndarray, industry: np.ndarray) -> WeakTable:
        tagged = np.flatnonzero(meta["tagged"])
        fraction = float(self.weak_cfg.precise_fraction)
        rng = np.random.default_rng(int(self.weak_cfg.precise_seed))
        precise = np.zeros(len(meta["titles"]), dtype=bool)
        if len(tagged):
            precise[tagged[rng.permutation(len(tagged))[:max(1, round(fraction * len(tagged)))]]] = True
        title_cfg = self.cfg.get("title") or {}
        keywords = OmegaConf.to_container(title_cfg.get("keywords"), resolve=True) if title_cfg.get("keywords") else {}
        parser = TitleParser(self.tag_names, keywords, list(title_cfg.get("exclusive") or []))
        if self.weak_cfg.get("use_title", True):
            title_targets, title_mask = parser.parse(meta["titles"])
        else:
            title_targets, title_mask = np.zeros_like(meta["tags"]), np.zeros_like(meta["tags"])
        initial = np.concatenate([l2_normalise(pooled), l2_normalise(industry) * float(self.weak_cfg.industry_weight)],
                                 axis=1)
        return WeakTable(meta["tags"], precise, title_targets, title_mask, initial, labelled=meta["tagged"])

    def embedding_dataloader(self) -> DataLoader:
        """The train split in order, eval view: for the KNN refresh in the model's embedding space."""
        return self.ordered_dataloader("train_eval")
