"""Labelled + unlabelled loaders for semi-supervised segmentation, combined with ``CombinedLoader``.

* Labelled / unlabelled sets come from the dataset registry: datasets with a semi-supervised split
  (``ccp``) take ``part=labeled|unlabeled`` and a ``ratio``; any other dataset (``synthetic``) is
  split here: the first ``labeled_ratio`` of its train split is labelled, the rest unlabelled
  (their masks are never read).
* Epoch = one pass over the unlabelled set; the labelled list is repeated and reshuffled to the same
  length (UniMatch V2). The supervised method uses the labelled loader alone, same length.
* :class:`SeededSampler` yields (index, seed) pairs from a generator seeded by (seed, epoch) and
  shards them by rank itself: augmentation is reproducible, resume is exact, and under DDP the
  eval sets are split without the padding duplicates of ``DistributedSampler`` (so the Trainer
  runs with ``use_distributed_sampler=False``).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.distributed as dist
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import CombinedLoader
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from projects.semiseg.transforms import (
    PAD_LABELED,
    PAD_UNLABELED,
    cutmix_box,
    eval_view,
    geometric,
    normalize,
)
from shared.augment import photometric_strong
from shared.data.datasets import create_dataset
from shared.errors import ConfigError


def parse_ratio(value: Any) -> Fraction:
    """``"1/16"``, ``"1_16"`` or ``0.0625`` -> Fraction(1, 16); must lie in (0, 1]."""
    try:
        ratio = Fraction(str(value).replace("_", "/")).limit_denominator(4096)
    except (ValueError, ZeroDivisionError) as exc:
        raise ConfigError(f"data.labeled_ratio {value!r} is not a fraction like 1/16") from exc
    if not 0 < ratio <= 1:
        raise ConfigError(f"data.labeled_ratio must be in (0, 1], got {value!r}")
    return ratio


def semi_datasets(cfg: DictConfig) -> tuple[Dataset, Dataset]:
    options: dict[str, Any] = OmegaConf.to_container(cfg.get("options") or {}, resolve=True)  # type: ignore
    root = cfg.get("root")
    if cfg.get("semi_split", "subset") == "dataset":
        labeled = create_dataset(cfg.dataset, "train", root=root, part="labeled", **options)
        unlabeled = create_dataset(cfg.dataset, "train", root=root, part="unlabeled", **options)
    else:
        train = create_dataset(cfg.dataset, "train", root=root, **options)
        ratio = parse_ratio(cfg.labeled_ratio)
        n = int(len(train) * ratio)  # type: ignore[arg-type]
        if n == 0:
            raise ConfigError(f"data.labeled_ratio={cfg.labeled_ratio} of {len(train)} training images "  # type: ignore
                              f"leaves zero labelled images; use a larger ratio or more data")
        labeled, unlabeled = Subset(train, range(n)), Subset(train, range(n, len(train)))  # type: ignore
    if len(labeled) == 0:  # type: ignore[arg-type]
        raise ConfigError(f"dataset {cfg.dataset!r} has zero labelled training images for this label ratio")
    return labeled, unlabeled


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class SeededSampler(Sampler):
    def __init__(self, size: int, num_samples: int | None = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = True) -> None:
        self.size, self.num_samples = size, num_samples or size
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.size)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        repeats = -(-self.num_samples // self.size)
        order = torch.arange(self.size).repeat(repeats)[: self.num_samples]
        return order[torch.randperm(len(order), generator=g)]

    def __iter__(self):
        rank, world = _rank_world()
        order = self._order()
        g = torch.Generator().manual_seed(self.seed * 7_919 + self.epoch + 1)
        seeds = torch.randint(0, 2**31 - 1, (len(order),), generator=g)
        usable = len(order) - len(order) % world if self.drop_last else len(order)
        for i in range(rank, usable, world):
            yield int(order[i]), int(seeds[i])

    def __len__(self) -> int:
        rank, world = _rank_world()
        total = self.num_samples if self.shuffle else self.size
        if self.drop_last:
            return total // world
        return len(range(rank, total, world))


def _split_key(key: int | tuple[int, int]) -> tuple[int, int]:
    return key if isinstance(key, tuple) else (key, key)


class LabeledViews(Dataset):
    def __init__(self, raw: Dataset, crop: int, base_size: int | None, scale: tuple[float, float]) -> None:
        self.raw, self.geo, self.norm = raw, geometric(crop, base_size, scale, PAD_LABELED), normalize()

    def __len__(self) -> int:
        return len(self.raw)  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = _split_key(key)
        sample = self.raw[index]
        self.geo.set_random_seed(seed)
        out = self.geo(image=sample["image"], mask=sample["mask"])
        return {"image": self.norm(image=out["image"])["image"], "mask": torch.as_tensor(out["mask"]).long()}


class UnlabeledViews(Dataset):
    """weak, strong1, strong2 (photometric on the weak crop), box1, box2, ignore (255 = padding)."""

    def __init__(self, raw: Dataset, crop: int, base_size: int | None, scale: tuple[float, float],
                 cutmix_p: float = 0.5) -> None:
        self.raw, self.crop, self.cutmix_p = raw, crop, cutmix_p
        self.geo, self.norm = geometric(crop, base_size, scale, PAD_UNLABELED), normalize()
        self.strong = photometric_strong()

    def __len__(self) -> int:
        return len(self.raw)  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = _split_key(key)
        image = self.raw[index]["image"]
        self.geo.set_random_seed(seed)
        out = self.geo(image=image, mask=np.zeros(image.shape[:2], dtype=np.uint8))
        weak = out["image"]
        ignore = torch.from_numpy((out["mask"] == PAD_UNLABELED).astype(np.int64) * 255)
        rng = np.random.default_rng(seed)
        views: dict[str, torch.Tensor] = {"weak": self.norm(image=weak)["image"], "ignore": ignore}
        for k in (1, 2):
            self.strong.set_random_seed(int(rng.integers(2**31 - 1)))
            views[f"strong{k}"] = self.norm(image=self.strong(image=weak)["image"])["image"]
            views[f"box{k}"] = cutmix_box(self.crop, rng, p=self.cutmix_p)
        return views


class EvalViews(Dataset):
    def __init__(self, raw: Dataset, size: int) -> None:
        self.raw, self.view = raw, eval_view(size)

    def __len__(self) -> int:
        return len(self.raw)  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        sample = self.raw[_split_key(key)[0]]
        out = self.view(image=sample["image"], mask=sample["mask"])
        return {"image": out["image"], "mask": torch.as_tensor(out["mask"]).long()}


def class_names(raw: Dataset, num_classes: int) -> list[str]:
    """The dataset's class names; datasets naming only the foreground classes get ``background`` first."""
    names = list(getattr(raw, "classes", []))
    if len(names) == num_classes - 1:
        names = ["background", *names]
    if len(names) != num_classes:
        raise ConfigError(f"data.num_classes={num_classes} but dataset {type(raw).__name__} has "
                          f"{len(names)} classes: {names[:10]}")
    return names


class SemiSegDataModule(pl.LightningDataModule):
    def __init__(self, data: DictConfig | dict, semi: bool = True, seed: int = 0) -> None:
        super().__init__()
        self.cfg = OmegaConf.create(data) if isinstance(data, dict) else data
        self.semi, self.seed = semi, seed
        self.classes: list[str] = []
        self.sets: dict[str, Dataset] = {}

    def _eval_raw(self, split: str) -> Dataset:
        options: dict[str, Any] = OmegaConf.to_container(self.cfg.get("options") or {}, resolve=True)  # type: ignore
        return create_dataset(self.cfg.dataset, split, root=self.cfg.get("root"), **options)

    def prepare_data(self) -> None:
        """Fail fast: folders, split files, zero labelled images."""
        semi_datasets(self.cfg)

    def setup(self, stage: str | None = None) -> None:
        if self.sets:
            return
        c = self.cfg
        scale = tuple(c.get("scale", (0.5, 2.0)))
        labeled, unlabeled = semi_datasets(c)
        self.sets["labeled"] = LabeledViews(labeled, c.crop_size, c.get("base_size"), scale)  # type: ignore
        self.sets["unlabeled"] = UnlabeledViews(unlabeled, c.crop_size, c.get("base_size"), scale,  # type: ignore
                                                c.get("cutmix_p", 0.5))
        for split in ("val", "test"):
            raw = self._eval_raw(split)
            self.sets[split] = EvalViews(raw, c.eval_size)
            self.classes = class_names(raw, int(self.cfg.num_classes))
        if len(unlabeled) < c.batch_size and self.semi:  # type: ignore[arg-type]
            raise ConfigError(f"only {len(unlabeled)} unlabelled images for batch size {c.batch_size}")  # type: ignore

    def _loader(self, name: str, sampler: SeededSampler) -> DataLoader:
        workers = int(self.cfg.get("num_workers", 0))
        return DataLoader(self.sets[name], batch_size=self.cfg.batch_size if name in ("labeled", "unlabeled")
                          else self.cfg.get("eval_batch_size", self.cfg.batch_size), sampler=sampler,
                          num_workers=workers, persistent_workers=False, drop_last=name in ("labeled", "unlabeled"))

    def epoch_samples(self) -> int:
        """Samples per epoch: the unlabelled set size (optionally capped by ``data.epoch_samples``)."""
        n = len(self.sets["unlabeled"])  # type: ignore[arg-type]
        cap = self.cfg.get("epoch_samples")
        return min(n, int(cap)) if cap else n

    def train_dataloader(self) -> CombinedLoader:
        n = self.epoch_samples()
        loaders = {"labeled": self._loader("labeled", SeededSampler(len(self.sets["labeled"]), n,  # type: ignore
                                                                     seed=self.seed))}
        if self.semi:
            loaders["unlabeled"] = self._loader("unlabeled", SeededSampler(len(self.sets["unlabeled"]), n,  # type: ignore
                                                                         seed=self.seed + 1))
        return CombinedLoader(loaders, mode="min_size")

    def _eval_loader(self, split: str) -> DataLoader:
        return self._loader(split, SeededSampler(len(self.sets[split]), shuffle=False, drop_last=False))  # type: ignore

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")
