"""Dataset registry: every dataset is created by name (``create_dataset("fashion_top15", split="train")``).

A dataset returns plain samples, dicts of numpy arrays and python values (``image`` always, and
``label`` / ``mask`` / ``title`` / ``tags`` / ``industry`` where the dataset has them). Transforms
and tensor conversion happen in :class:`shared.data.transformed.TransformedDataset`, so the same
dataset serves every project.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from shared.data.io import read_image, require_dir
from shared.data.synthetic import CATEGORIES, SyntheticSpec, make_sample
from shared.errors import ConfigError, DataError
from shared.paths import SPLITS_ROOT, data_root
from shared.registry import Registry

DATASETS: Registry = Registry("dataset")
SPLITS = ("train", "val", "test")


def discover() -> None:
    """Import every module of ``shared.data`` so that all datasets and preparers are registered."""
    import importlib
    import pkgutil

    import shared.data as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"shared.data.{info.name}")


def create_dataset(name: str, split: str, root: str | Path | None = None, **options: Any) -> Dataset:
    discover()
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; expected one of {SPLITS}")
    return DATASETS.get(name)(split=split, root=data_root(root), **options)


class SyntheticProducts(Dataset):
    """Generated on the fly: split s uses its own index range, so train/val/test never overlap."""

    classes = list(CATEGORIES)

    def __init__(self, split: str, size: int, seed: int = 0, spec: SyntheticSpec = SyntheticSpec()) -> None:
        if size <= 0:
            raise ConfigError(f"synthetic dataset size must be positive, got {size} for split {split!r}")
        self.size, self.seed, self.spec = size, seed, spec
        self.offset = SPLITS.index(split) * 1_000_000

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict[str, Any]:
        s = make_sample(self.seed, self.offset + index, self.spec)
        return {"image": s.image, "mask": s.mask, "label": s.label, "title": s.title, "tags": s.tags,
                "industry": s.industry, "id": f"synthetic-{self.seed}-{self.offset + index}"}


@DATASETS.register("synthetic")
def _synthetic(split: str, root: Path, sizes: dict[str, int] | None = None, seed: int = 0,
               image_size: int = 96, clutter_prob: float = 0.5, logo_prob: float = 0.4) -> SyntheticProducts:
    sizes = dict(sizes or {"train": 2400, "val": 400, "test": 400})
    spec = SyntheticSpec(image_size=image_size, clutter_prob=clutter_prob, logo_prob=logo_prob)
    return SyntheticProducts(split, sizes[split], seed, spec)


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
