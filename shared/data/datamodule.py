"""A generic LightningDataModule over the dataset registry (train = weak view, val/test = eval view)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset

from shared.augment import build_transforms
from shared.data.datasets import create_dataset
from shared.data.transformed import TransformedDataset


class ImageDataModule(pl.LightningDataModule):
    def __init__(self, data: DictConfig | dict, keys: Sequence[str] = ("image", "label"),
                 train_view: str = "weak") -> None:
        super().__init__()
        self.cfg = OmegaConf.create(data) if isinstance(data, dict) else data
        self.keys, self.train_view = tuple(keys), train_view
        self.datasets: dict[str, Dataset] = {}
        self.classes: list[str] = []

    def _raw(self, split: str) -> Dataset:
        opts = self.cfg.get("options")
        options: dict[str, Any] = OmegaConf.to_container(opts, resolve=True) if opts is not None else {}  # type: ignore
        return create_dataset(self.cfg.dataset, split, root=self.cfg.get("root"), **options)

    def prepare_data(self) -> None:
        """Fail fast (missing folder, split file, bad labels) before the Trainer starts."""
        for split in ("train", "val", "test"):
            self._raw(split)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        size = self.cfg.image_size
        for split in ("train", "val", "test"):
            raw = self._raw(split)
            view = self.train_view if split == "train" else "eval"
            self.datasets[split] = TransformedDataset(raw, build_transforms(view, size), self.keys)
            self.classes = list(getattr(raw, "classes", []))

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        workers = int(self.cfg.get("num_workers", 0))
        return DataLoader(self.datasets[split], batch_size=self.cfg.batch_size, shuffle=shuffle,
                          num_workers=workers, persistent_workers=workers > 0, drop_last=shuffle and
                          len(self.datasets[split]) > self.cfg.batch_size)  # type: ignore[arg-type]

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
