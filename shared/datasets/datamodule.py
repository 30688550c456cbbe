"""A generic LightningDataModule over the dataset registry (train = weak view, val/test = eval view).

The train loader draws through :class:`shared.datasets.sampler.SeededSampler`: order and augmentation
follow (seed, epoch), and the seed is saved in the checkpoint, so a resumed run continues the data
stream of the run it resumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset, Sampler

from shared.augment import build_transforms
from shared.datasets.registry import dataset_from_config
from shared.datasets.sampler import SeededSampler, loader_generator
from shared.datasets.transformed import TransformedDataset


class ImageDataModule(pl.LightningDataModule):
    def __init__(self, data: DictConfig | dict, keys: Sequence[str] = ("image", "label"),
                 train_view: str = "weak", seed: int = 0) -> None:
        super().__init__()
        self.cfg = OmegaConf.create(data) if isinstance(data, dict) else data
        self.keys, self.train_view, self.seed = tuple(keys), train_view, int(seed)
        self.datasets: dict[str, Dataset] = {}
        self.classes: list[str] = []
        self.splits: tuple[str, ...] = ("train", "val", "test")

    def _raw(self, split: str) -> Dataset:
        return dataset_from_config(self.cfg, split)

    def test_only(self) -> None:
        """Build and check the test split alone (``make eval``: no training data needed)."""
        self.splits = ("test",)

    def prepare_data(self) -> None:
        """Fail fast (missing folder, split file, bad labels) before the Trainer starts; the class names
        the data declares are known from here on."""
        for split in self.splits:
            self.classes = list(getattr(self._raw(split), "classes", None) or self.classes)

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        size = self.cfg.image_size
        for split in self.splits:
            raw = self._raw(split)
            view = self.train_view if split == "train" else "eval"
            self.datasets[split] = TransformedDataset(raw, build_transforms(view, size, seed=self.seed), self.keys)
            self.classes = list(getattr(raw, "classes", []))

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """A resumed run keeps the data stream (order, augmentation) of the run in the checkpoint."""
        self.seed = int(state_dict.get("seed", self.seed))

    def _loader(self, split: str, sampler: Sampler | None = None) -> DataLoader:
        """``sampler=None``: the split in order; the seeded training sampler drops the last partial batch."""
        workers = int(self.cfg.get("num_workers", 0))
        size = len(self.datasets[split])  # type: ignore[arg-type]
        training = isinstance(sampler, SeededSampler) and sampler.shuffle
        return DataLoader(self.datasets[split], batch_size=self.cfg.batch_size, sampler=sampler,
                          num_workers=workers, persistent_workers=workers > 0,
                          drop_last=training and size > self.cfg.batch_size, generator=loader_generator(self.seed))

    def train_sampler(self) -> SeededSampler:
        """Under DDP each rank draws an equal share (the remainder of the shuffled list is left out)."""
        return SeededSampler(len(self.datasets["train"]), seed=self.seed)  # type: ignore[arg-type]

    def ordered_dataloader(self, split: str) -> DataLoader:
        """Every item of ``split`` once, in order (e.g. statistics over the whole train split)."""
        return self._loader(split)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.train_sampler())

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
