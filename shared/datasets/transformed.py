"""Apply an albumentations pipeline to a registry dataset and return tensors."""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

SampleKey = int | tuple[int, int]


def split_key(key: SampleKey) -> tuple[int, int | None]:
    """``index`` or ``(index, seed)`` (from :class:`shared.datasets.sampler.SeededSampler`) -> (index, seed or None)."""
    if isinstance(key, tuple):
        return int(key[0]), int(key[1])
    return int(key), None


def seeded(transform: A.Compose, seed: int | None) -> A.Compose:
    """The pipeline reset to ``seed`` (its draws for this sample then depend on nothing else: not the
    worker, not the samples before it); unchanged without a seed."""
    if seed is not None:
        transform.set_random_seed(seed)
    return transform


class TransformedDataset(Dataset):
    """``image`` -> float CxHxW tensor, ``mask`` -> long HxW, ``label`` -> long, ``tags`` -> float."""

    def __init__(self, dataset: Dataset, transform: A.Compose, keys: tuple[str, ...] | None = None) -> None:
        self.dataset, self.transform, self.keys = dataset, transform, keys

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: SampleKey) -> dict[str, Any]:
        index, seed = split_key(key)
        sample = self.dataset[index]
        transform = seeded(self.transform, seed)
        if "mask" in sample:
            out = transform(image=sample["image"], mask=sample["mask"])
            mask = out["mask"]
            sample["mask"] = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).long()
        else:
            out = transform(image=sample["image"])
        sample["image"] = out["image"]
        if "label" in sample:
            sample["label"] = torch.tensor(sample["label"], dtype=torch.long)
        if "tags" in sample:
            sample["tags"] = torch.as_tensor(sample["tags"], dtype=torch.float32)
        if self.keys is not None:
            sample = {k: v for k, v in sample.items() if k in self.keys}
        return sample
