"""Labelled + unlabelled loaders for semi-supervised segmentation, combined with ``CombinedLoader``.

* Labelled / unlabelled sets come from the dataset registry: datasets with a semi-supervised split
  (``ccp``) take ``part=labeled|unlabeled`` and a ``ratio``; any other dataset (``synthetic``) is
  split here: the first ``labeled_ratio`` of its train split is labelled, the rest unlabelled
  (their masks reach training only as ``gt``, for the pseudo-label statistics; no loss reads them).
* Epoch = one pass over the unlabelled set; the labelled list is repeated and reshuffled to the same
  length (UniMatch V2). The supervised method uses the labelled loader alone, same length.
* :class:`shared.datasets.sampler.SeededSampler` yields (index, seed) pairs from a generator seeded by
  (seed, epoch) and shards them by rank itself: augmentation is reproducible, resume is exact, and
  under DDP the eval sets are split without the padding duplicates of ``DistributedSampler``.
"""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import CombinedLoader
from torch.utils.data import DataLoader, Dataset, Subset

from projects.semiseg.transforms import (
    PAD_LABELED,
    PAD_UNLABELED,
    cutmix_box,
    eval_view,
    geometric,
    normalize,
)
from shared.augment import photometric_strong
from shared.datasets.label_ratio import parse_label_ratio
from shared.datasets.registry import dataset_from_config
from shared.datasets.sampler import SeededSampler, loader_generator
from shared.datasets.transformed import SampleKey, split_key
from shared.errors import ConfigError


def semi_datasets(cfg: DictConfig) -> tuple[Dataset, Dataset]:
    if cfg.get("semi_split", "subset") == "dataset":
        labeled = dataset_from_config(cfg, "train", part="labeled")
        unlabeled = dataset_from_config(cfg, "train", part="unlabeled")
    else:
        train = dataset_from_config(cfg, "train")
        ratio = parse_label_ratio(cfg.labeled_ratio, "data.labeled_ratio")
        n = int(len(train) * ratio)  # type: ignore[arg-type]
        if n == 0:
            raise ConfigError(f"data.labeled_ratio={cfg.labeled_ratio} of {len(train)} training images "  # type: ignore
                              f"leaves zero labelled images; use a larger ratio or more data")
        labeled, unlabeled = Subset(train, range(n)), Subset(train, range(n, len(train)))  # type: ignore
    if len(labeled) == 0:  # type: ignore[arg-type]
        raise ConfigError(f"dataset {cfg.dataset!r} has zero labelled training images for this label ratio")
    return labeled, unlabeled


def _split_key(key: SampleKey) -> tuple[int, int]:
    """(index, seed); a bare index is its own augmentation seed."""
    index, seed = split_key(key)
    return index, index if seed is None else seed


class LabeledViews(Dataset):
    def __init__(self, raw: Dataset, crop: int, base_size: int | None, scale: tuple[float, float]) -> None:
        self.raw, self.geo, self.norm = raw, geometric(crop, base_size, scale, PAD_LABELED), normalize()

    def __len__(self) -> int:
        return len(self.raw)  # type: ignore[arg-type]

    def __getitem__(self, key: SampleKey) -> dict[str, torch.Tensor]:
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

    def __getitem__(self, key: SampleKey) -> dict[str, torch.Tensor]:
        index, seed = _split_key(key)
        sample = self.raw[index]
        image = sample["image"]
        self.geo.set_random_seed(seed)
        # The ground truth, where the unlabelled sample has one, rides along as the padding mask (its labels
        # 0..C-1 / 255 never equal PAD_UNLABELED), so training can score its pseudo-labels (``gt``, 255 =
        # unknown); no loss reads it. The crop depends only on the seed, not on the mask's content.
        known = sample.get("mask")
        out = self.geo(image=image, mask=np.zeros(image.shape[:2], dtype=np.uint8) if known is None else known)
        weak = out["image"]
        padding = out["mask"] == PAD_UNLABELED
        ignore = torch.from_numpy(padding.astype(np.int64) * 255)
        rng = np.random.default_rng(seed)
        views: dict[str, torch.Tensor] = {"weak": self.norm(image=weak)["image"], "ignore": ignore}
        if known is not None:
            views["gt"] = torch.from_numpy(np.where(padding, 255, out["mask"]).astype(np.int64))
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

    def __getitem__(self, key: SampleKey) -> dict[str, torch.Tensor]:
        sample = self.raw[_split_key(key)[0]]
        out = self.view(image=sample["image"], mask=sample["mask"])
        return {"image": out["image"], "mask": torch.as_tensor(out["mask"]).long()}


def class_names(raw: Dataset, num_classes: int | None) -> list[str]:
    """The dataset's class names; datasets naming only the foreground classes get ``background`` first.
    ``num_classes`` None (a folder of the user's: the count comes from its class list) takes them as they are."""
    names = list(getattr(raw, "classes", []))
    if num_classes is None:
        return names
    if len(names) == num_classes - 1:
        names = ["background", *names]
    if len(names) != num_classes:
        raise ConfigError(f"data.num_classes={num_classes} but dataset {type(raw).__name__} has "
                          f"{len(names)} classes: {names[:10]}")
    return names


def require_root(data: DictConfig) -> None:
    """``data=folder`` without ``data.root``: one line saying what to add."""
    if OmegaConf.is_missing(data, "root"):
        raise ConfigError("data=folder needs your folder: add data.root=/path/to/folder (make: ARGS=\"data.root=...\")")


class SemiSegDataModule(pl.LightningDataModule):
    def __init__(self, data: DictConfig | dict, semi: bool = True, seed: int = 0) -> None:
        super().__init__()
        self.cfg = OmegaConf.create(data) if isinstance(data, dict) else data
        require_root(self.cfg)
        self.semi, self.seed = semi, seed
        self.classes: list[str] = []
        self.colours: list | None = None    # per class: (r, g, b) or None, where the data's class list gives them
        self.sets: dict[str, Dataset] = {}
        self.only_test = False

    def _eval_raw(self, split: str) -> Dataset:
        return dataset_from_config(self.cfg, split)

    def test_only(self) -> None:
        """Build and check the test split alone (``make eval``: no labelled, unlabelled or val set needed)."""
        self.only_test = True

    def prepare_data(self) -> None:
        """Fail fast: folders, split files, masks, zero labelled images; the class names are known from here."""
        if not self.only_test:
            semi_datasets(self.cfg)
        num_classes = self.cfg.get("num_classes")
        test = self._eval_raw("test")
        self.classes = class_names(test, None if num_classes is None else int(num_classes))
        colours = getattr(test, "colours", None)
        self.colours = [list(c) if c else None for c in colours] if colours else None

    def setup(self, stage: str | None = None) -> None:
        if self.sets:
            return
        c = self.cfg
        if self.only_test:
            raw = self._eval_raw("test")
            self.sets["test"] = EvalViews(raw, c.eval_size)
            self.classes = self.classes or class_names(raw, c.get("num_classes"))
            return
        scale = tuple(c.get("scale", (0.5, 2.0)))
        labeled, unlabeled = semi_datasets(c)
        self.sets["labeled"] = LabeledViews(labeled, c.crop_size, c.get("base_size"), scale)  # type: ignore
        self.sets["unlabeled"] = UnlabeledViews(unlabeled, c.crop_size, c.get("base_size"), scale,  # type: ignore
                                                c.get("cutmix_p", 0.5))
        for split in ("val", "test"):
            raw = self._eval_raw(split)
            self.sets[split] = EvalViews(raw, c.eval_size)
            self.classes = self.classes or class_names(raw, c.get("num_classes"))
        if len(unlabeled) < c.batch_size and self.semi:  # type: ignore[arg-type]
            raise ConfigError(f"only {len(unlabeled)} unlabelled images for batch size {c.batch_size}")  # type: ignore

    def _loader(self, name: str, sampler: SeededSampler) -> DataLoader:
        workers = int(self.cfg.get("num_workers", 0))
        return DataLoader(self.sets[name], batch_size=self.cfg.batch_size if name in ("labeled", "unlabeled")
                          else self.cfg.get("eval_batch_size", self.cfg.batch_size), sampler=sampler,
                          num_workers=workers, persistent_workers=False, drop_last=name in ("labeled", "unlabeled"),
                          generator=loader_generator(self.seed))

    def epoch_samples(self) -> int:
        """Samples per epoch: the unlabelled set size, the labelled one when there is no unlabelled photo
        (supervised on all of a folder's labels), optionally capped by ``data.epoch_samples``."""
        n = len(self.sets["unlabeled"]) or len(self.sets["labeled"])  # type: ignore[arg-type]
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
